"""Identity resolution: SQL and DataFrame give the same person for hand-built sessions."""

from datetime import datetime

import pandas as pd
from sqlalchemy import select

from analytics.events import validate_event
from analytics.identity import person_map, resolve_persons
from analytics.schema import sessions
from analytics.storage import write_events

NOW = datetime(2026, 11, 25, 12, 0)
ROWS = [  # session, user
    ("s1", None), ("s1", "u9"), ("s1", None),  # anonymous start, identified later → u9
    ("s2", None),  # never identified → s2
    ("s3", "u2"), ("s3", "u1"),  # two user ids → the smallest, u1
    ("s4", "u9"),  # another session of u9
]
EXPECTED = {"s1": "u9", "s2": "s2", "s3": "u1", "s4": "u9"}


def test_dataframe_rule_with_no_user_ids():
    df = pd.DataFrame({"session_id": ["a", "b"], "user_id": [None, None]})
    assert list(resolve_persons(df)) == ["a", "b"]


def test_dataframe_rule():
    df = pd.DataFrame(ROWS, columns=["session_id", "user_id"])
    assert list(resolve_persons(df)) == [EXPECTED[s] for s, _ in ROWS]


def test_sql_rule(engine):
    events = [
        validate_event({"event_type": "ai_calculator_opened", "session_id": s, "user_id": u, "event_id": f"e{i}",
                        "timestamp": "2026-11-25T10:00:00Z"}, now=NOW)
        for i, (s, u) in enumerate(ROWS)
    ]
    write_events(engine, events)
    with engine.connect() as c:
        got = dict(c.execute(select(person_map().subquery())).all())
    assert got == EXPECTED


def test_sessions_table_follows_later_batches(engine):
    def e(i, s, u, ts):
        return validate_event({"event_type": "ai_calculator_opened", "session_id": s, "user_id": u,
                               "event_id": f"x{i}", "timestamp": ts}, now=NOW)

    write_events(engine, [e(1, "s1", None, "2026-11-25T10:00:00Z")])
    write_events(engine, [e(2, "s1", "u5", "2026-11-25T09:00:00Z")])
    write_events(engine, [e(3, "s1", "u7", "2026-11-25T11:00:00Z"), e(4, "s1", None, "2026-11-25T11:30:00Z")])
    with engine.connect() as c:
        assert dict(c.execute(select(person_map().subquery())).all()) == {"s1": "u5"}
        row = c.execute(select(sessions)).one()
    assert (row.first_seen, row.last_seen) == (datetime(2026, 11, 25, 9), datetime(2026, 11, 25, 11, 30))
