"""Storage round trips on SQLite and PostgreSQL: dedup, atomicity, DataFrame dtypes, periods."""

from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.schema import analytics_events, assessments, event_keys
from analytics.storage import WriteResult, read_events, write_events

NOW = datetime(2026, 11, 27, 12, 0)


def ev(event_id, event_type="ai_calculator_opened", session="s1", user=None, ts="2026-11-25T10:00:00Z", **data):
    raw = {"event_type": event_type, "session_id": session, "event_id": event_id, "timestamp": ts,
           "event_data": data}
    if user:
        raw["user_id"] = user
    return validate_event(raw, now=NOW)


def count(engine, table):
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def test_round_trip(engine):
    events = [
        ev("a", source="google", medium="cpc", campaign="x", country="us", region="CA", device="mobile"),
        ev("b", "assessment_submitted", user="u1", ts="2026-11-25T10:05:00Z", job_title="Teacher",
           industry="Education", risk_level="medium", risk_score=40.5, country="GB"),
    ]
    assert write_events(engine, events) == WriteResult(accepted=2, duplicates=0)
    df = read_events(engine, "2026-11-25", "2026-11-26")
    assert list(df["event_id"]) == ["a", "b"]
    first = df.iloc[0]
    assert (first["source"], first["medium"], first["campaign"], first["country"], first["region"],
            first["device"]) == ("google", "cpc", "x", "US", "CA", "mobile")
    assert first["timestamp"] == pd.Timestamp("2026-11-25T10:00:00Z")
    assert str(df["timestamp"].dtype).startswith("datetime64") and str(df["timestamp"].dt.tz) == "UTC"
    assert df.iloc[1]["event_data"] == {"job_title": "Teacher", "industry": "Education", "risk_level": "medium",
                                        "risk_score": 40.5, "country": "GB"}
    # identity: the anonymous first event belongs to the user seen later in the session
    assert list(df["person_id"]) == ["u1", "u1"]
    with engine.connect() as c:
        row = c.execute(select(assessments)).mappings().one()
    assert (row["job_title"], row["industry"], row["risk_level"], row["country"], row["session_id"]) == (
        "Teacher", "Education", "medium", "GB", "s1")
    assert row["created_at"] == datetime(2026, 11, 25, 10, 5)


def test_repeated_event_id_is_stored_once(engine):
    assert write_events(engine, [ev("a"), ev("b")]) == WriteResult(2, 0)
    # retried with a different (skew-corrected) timestamp: still a duplicate
    assert write_events(engine, [ev("a", ts="2026-11-25T10:00:03Z"), ev("c")]) == WriteResult(1, 1)
    assert write_events(engine, [ev("d"), ev("d")]) == WriteResult(1, 1)
    assert count(engine, analytics_events) == 4
    assert count(engine, event_keys) == 4


def test_duplicate_across_months_on_partitions(engine):
    # October and November land in different partitions on PostgreSQL; the ledger still dedups.
    assert write_events(engine, [ev("x", ts="2026-10-31T23:59:59Z")]) == WriteResult(1, 0)
    assert write_events(engine, [ev("x", ts="2026-11-01T00:00:01Z")]) == WriteResult(0, 1)
    assert count(engine, analytics_events) == 1


def test_failed_batch_leaves_nothing(engine):
    good = ev("ok1")
    bad = ev("bad")
    bad.session_id = None  # violates NOT NULL inside the insert
    with pytest.raises(IntegrityError):
        write_events(engine, [good, bad])
    assert count(engine, analytics_events) == 0
    assert count(engine, event_keys) == 0
    assert write_events(engine, [good]) == WriteResult(1, 0)


def test_empty_batch(engine):
    assert write_events(engine, []) == WriteResult(0, 0)


def test_read_filters_period_and_types(engine):
    write_events(engine, [ev("a", ts="2026-11-24T23:59:59Z"), ev("b", ts="2026-11-25T00:00:00Z"),
                          ev("c", "page_load_timing", ts="2026-11-25T01:00:00Z", load_time_ms=900.0),
                          ev("d", ts="2026-11-26T00:00:00Z")])
    df = read_events(engine, "2026-11-25", "2026-11-26")
    assert list(df["event_id"]) == ["b", "c"]
    assert list(read_events(engine, "2026-11-25", "2026-11-26", ["page_load_timing"])["event_id"]) == ["c"]


def test_empty_read_has_columns(engine):
    df = read_events(engine, "2026-11-25", "2026-11-26")
    assert len(df) == 0
    assert "person_id" in df.columns


def test_end_before_start_is_an_error(engine):
    with pytest.raises(InvalidParameterError) as info:
        read_events(engine, "2026-02-01", "2026-01-01")
    assert str(info.value) == (
        "'end_date' must not be before 'start_date' (got end_date=2026-01-01, start_date=2026-02-01)"
    )
    assert info.value.name == "end_date"


def test_unparseable_date(engine):
    with pytest.raises(InvalidParameterError) as info:
        read_events(engine, "soon", "2026-01-01")
    assert str(info.value) == "'start_date' must be a date or ISO 8601 time (got 'soon')"


@pytest.mark.parametrize("one_statement_max", [64, 0], ids=["one-statement", "copy"])
def test_group_of_prepared_batches_first_carrier_wins(engine, monkeypatch, one_statement_max):
    import analytics.storage
    from analytics.schema import sessions
    from analytics.storage import prepare_events, write_prepared

    monkeypatch.setattr(analytics.storage, "PG_ONE_STATEMENT_MAX", one_statement_max)  # both PostgreSQL paths

    write_events(engine, [ev("old", session="s2", user="z", ts="2026-11-25T09:00:00Z")])
    a = [ev("e1", ts="2026-11-25T10:00:00Z"), ev("e2", user="b", ts="2026-11-25T10:01:00Z", source="a")]
    b = [ev("e2", user="b", ts="2026-11-25T10:09:00Z", source="b"), ev("e3", user="a", ts="2026-11-25T10:02:00Z"),
         ev("old", session="s2"), ev("e4", session="s2", user="y", ts="2026-11-25T08:00:00Z")]  # fmt: skip
    dialect = engine.dialect.name
    with engine.begin() as conn:
        new = write_prepared(conn, [prepare_events(a, dialect), prepare_events(b, dialect)])
    assert new == {"e1", "e2", "e3", "e4"}
    with engine.connect() as c:
        rows = c.execute(select(analytics_events.c.event_id, analytics_events.c.source)
                         .order_by(analytics_events.c.event_id)).all()  # fmt: skip
        assert rows == [("e1", None), ("e2", "a"), ("e3", None), ("e4", None), ("old", None)]  # e2 from batch a
        got = {r.session_id: (r.user_id, r.first_seen, r.last_seen) for r in c.execute(select(sessions))}
    assert got == {"s1": ("a", datetime(2026, 11, 25, 10, 0), datetime(2026, 11, 25, 10, 2)),
                   "s2": ("y", datetime(2026, 11, 25, 8, 0), datetime(2026, 11, 25, 9, 0))}  # fmt: skip


def test_write_exposures_first_row_wins_and_recorded_units_stay(engine):
    from analytics.schema import ab_assignments
    from analytics.storage import write_exposures

    t0, t1 = datetime(2026, 11, 25, 12, 0, 1), datetime(2026, 11, 25, 12, 0, 2)
    with engine.begin() as conn:
        write_exposures(conn, [("t", "u1", "control", 0, 0.25, t0)])
    with engine.begin() as conn:
        write_exposures(conn, [("t", "u2", "b", 1, 0.75, t1), ("t", "u1", "b", 1, 0.9, t1),  # u1: recorded
                               ("t", "u2", "control", 0, 0.1, t0), ("s", "u1", "b", 0, None, t1)])  # fmt: skip
        write_exposures(conn, [])
    with engine.connect() as conn:
        rows = conn.execute(select(ab_assignments).order_by(ab_assignments.c.test_id, ab_assignments.c.unit_id)).all()
    assert [tuple(r) for r in rows] == [("s", "u1", "b", 0, None, t1), ("t", "u1", "control", 0, 0.25, t0),
                                        ("t", "u2", "b", 1, 0.75, t1)]  # fmt: skip


def test_json_text_is_compact_json_and_keeps_big_integers_exact():
    import json

    from analytics.storage import json_text

    value = {"step": 3, "price": 12.5, "tiny": 1e-7, "big": 1e16, "name": "Zoë \u2028", "list": [True, None]}
    assert json.loads(json_text(value)) == value
    assert json_text({"step": 3, "name": "Zoë"}) == '{"step":3,"name":"Zoë"}'  # compact, UTF-8
    assert json.loads(json_text({"n": 2**70})) == {"n": 2**70}  # beyond orjson's 64 bits: the json module writes it
