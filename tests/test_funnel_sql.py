"""The database funnel path equals the DataFrame path (SQLite, and PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.funnel import funnel
from analytics.funnel._frame import from_storage
from analytics.funnel._sql import epoch_us
from analytics.storage import read_events, write_events

END = datetime(2026, 11, 23)
START = END - timedelta(days=21)
CALC = (
    ["ai_calculator_opened"]
    + [("calculator_step_completed", {"step": k}) for k in (1, 2, 3)]
    + ["assessment_submitted", "conversion_offer_viewed", "paid_upgrade_clicked", "payment_succeeded"]
)
CASES = [
    {},
    {"breakdown": "source"},
    {"breakdown": "device", "exclusions": [("payment_failed", 6, 7)]},
    {"order": "strict"},
    {"order": "strict", "steps": ["ai_calculator_opened", "page_load_timing", "step_load_timing"]},
    {"order": "unordered", "steps": ["ai_calculator_opened", "assessment_submitted", "lead_captured"]},
    {"window": timedelta(minutes=3), "steps": ["calculator_step_completed", "calculator_step_completed"]},
]


@pytest.fixture
def loaded(engine):
    from analytics.demo import generate, insert_demo

    with engine.begin() as conn:
        insert_demo(conn, generate(days=21, sessions=600, seed=5, end=END))
    return engine


def test_database_path_equals_dataframe_path(loaded):
    frame = from_storage(read_events(loaded, START, END))
    for case in CASES:
        kw = dict(case)
        steps = kw.pop("steps", CALC)
        a = funnel(frame, steps, **kw)
        b = funnel(loaded, steps, start_date=START, end_date=END, **kw)
        pd.testing.assert_frame_equal(a.table, b.table)
        assert a.table["count"].iloc[0] > 0
        for k in range(len(steps)):
            assert a.people(k) == b.people(k)


def _event(event_type, session, seconds, user=None, **data):
    raw = {
        "event_type": event_type,
        "session_id": session,
        "timestamp": (START + timedelta(seconds=seconds)).isoformat() + "Z",
        "event_data": data,
    }
    if user:
        raw["user_id"] = user
    return validate_event(raw, now=END)


def test_rule11_person_is_the_sessions_user(engine):
    events = [
        _event("ai_calculator_opened", "s1", 0, source="google"),  # anonymous, but s1 later identifies as u1
        _event("lead_captured", "s1", 60, user="u1", lead_source="calculator", email_consent=True),
        _event(
            "assessment_submitted",
            "s2",
            3600,
            user="u1",
            job_title="Nurse",
            industry="Health",
            risk_level="low",
        ),
        _event("ai_calculator_opened", "s3", 0),  # anonymous session: the person is the session
    ]
    write_events(engine, events)
    res = funnel(engine, ["ai_calculator_opened", "assessment_submitted"], start_date=START, end_date=END)
    assert res.table["count"].tolist() == [2, 1]
    assert res.people(1) == ["u1"]
    assert res.people(1, dropped=True) == ["s3"]


def test_epoch_microseconds_are_exact(engine):
    from analytics.schema import analytics_events as ev

    write_events(engine, [_event("ai_calculator_opened", "s", 59.999999)])
    with engine.connect() as conn:
        got = conn.execute(select(epoch_us(ev.c.timestamp))).scalar_one()
    assert got == int((START - datetime(1970, 1, 1)).total_seconds()) * 1_000_000 + 59_999_999


def test_database_source_needs_a_period(engine):
    with pytest.raises(InvalidParameterError) as info:
        funnel(engine, ["A"], start_date="2026-01-01")
    assert str(info.value) == "a database source needs 'start_date' and 'end_date' (got '2026-01-01', None)"


_KIND = {
    "A": ("ai_calculator_opened", {}),
    "B": ("page_load_timing", {"load_time_ms": 1.0}),
    "C": ("email_sent", {"email_type": "welcome"}),
}


def _ev(kind, session, seconds):
    """Event ``kind`` (A, B or C: three catalogue types without interfering required fields)."""
    name, data = _KIND[kind]
    return _event(name, session, seconds, **data)


def _names(kinds):
    return [_KIND[k][0] for k in kinds]


def _times(res, column):
    return res.table[column].tolist()[1:]



def test_sql_medians_even_and_odd_counts(engine):
    # A -> B after 10, 20, 30, 50 s: median (20 + 30) / 2 = 25, mean 27.5; a fifth person at 100 s: median 30.
    events = []
    for i, gap in enumerate((10, 20, 30, 50)):
        events += [_ev("A", f"p{i}", 0), _ev("B", f"p{i}", gap)]
    write_events(engine, events)
    res = funnel(engine, _names("AB"), start_date=START, end_date=END)
    assert res.table["count"].tolist() == [4, 4]
    assert _times(res, "median_time_to_convert_s") == [25.0]
    assert _times(res, "mean_time_to_convert_s") == [27.5]
    write_events(engine, [_ev("A", "p9", 0), _ev("B", "p9", 100)])
    res = funnel(engine, _names("AB"), start_date=START, end_date=END)
    assert _times(res, "median_time_to_convert_s") == [30.0]
    assert _times(res, "mean_time_to_convert_s") == [42.0]  # (10 + 20 + 30 + 50 + 100) / 5


def test_sql_exact_pass_for_people_the_fast_pass_cannot_settle(engine):
    # q: A@0, C@10, A@20, B@30, C@40. The fast chain takes the first C (10 s, before B) and breaks, but a later C
    # exists, so q goes to the exact evaluator: the first attempt reaches C at 40 s (A 0 -> B 30 -> C 40).
    # r: A@0, B@5 only (settled by the fast pass). Durations to B: 30 and 5; to C: 10.
    write_events(
        engine,
        [_ev("A", "q", s) for s in (0, 20)]
        + [_ev("C", "q", 10), _ev("B", "q", 30), _ev("C", "q", 40)]
        + [_ev("A", "r", 0), _ev("B", "r", 5)],
    )
    res = funnel(engine, _names("ABC"), start_date=START, end_date=END)
    assert res.table["count"].tolist() == [2, 2, 1]
    assert _times(res, "median_time_to_convert_s") == [17.5, 10.0]
    assert res.people(2) == ["q"]
    assert res.people(2, dropped=True) == ["r"]


def test_sql_unordered_durations_follow_time_order(engine):
    # unordered A, B: s does B at 0 and A at 10 -> steps at 0 and 10, 10 s between; t does A@0, B@4.
    write_events(engine, [_ev("B", "s", 0), _ev("A", "s", 10), _ev("A", "t", 0), _ev("B", "t", 4)])
    res = funnel(engine, _names("AB"), order="unordered", start_date=START, end_date=END)
    assert res.table["count"].tolist() == [2, 2]
    assert _times(res, "median_time_to_convert_s") == [7.0]


def test_form_step_column_is_filled_at_ingest_and_matched(engine):
    from analytics.schema import analytics_events as ev

    write_events(
        engine,
        [
            _event("ai_calculator_opened", "s", 0),
            _event("calculator_step_completed", "s", 5, step=1, seconds_on_step=5.0),
            _event("calculator_step_completed", "s", 9, step=2, seconds_on_step=4.0),
        ],
    )
    with engine.connect() as conn:
        got = conn.execute(select(ev.c.event_type, ev.c.form_step).order_by(ev.c.timestamp)).all()
    assert [tuple(r) for r in got] == [
        ("ai_calculator_opened", None),
        ("calculator_step_completed", 1),
        ("calculator_step_completed", 2),
    ]
    steps = ["ai_calculator_opened", ("calculator_step_completed", {"step": 2})]
    assert funnel(engine, steps, start_date=START, end_date=END).table["count"].tolist() == [1, 1]
    steps = ["ai_calculator_opened", ("calculator_step_completed", {"step": 3})]
    assert funnel(engine, steps, start_date=START, end_date=END).table["count"].tolist() == [1, 0]


def test_exact_pass_with_many_people_uses_a_subquery(loaded, monkeypatch):
    # Above INLINE people the exact pass reads their ids from the temporary table (analysed on PostgreSQL).
    import analytics.funnel._sql as sql_path

    frame = from_storage(read_events(loaded, START, END))
    kw = {"breakdown": "device", "exclusions": [("payment_failed", 6, 7)]}
    expected = funnel(frame, CALC, **kw).table
    monkeypatch.setattr(sql_path, "INLINE", 0)
    pd.testing.assert_frame_equal(funnel(loaded, CALC, start_date=START, end_date=END, **kw).table, expected)


def test_without_temporary_tables_the_fallback_gives_the_same_results(loaded, monkeypatch):
    # A read replica cannot create temporary tables: the fast pass is streamed and totalled in numpy instead.
    import analytics.funnel._sql as sql_path
    import analytics.funnel._sqlstream as stream_path

    monkeypatch.setattr(sql_path, "can_create_temp", lambda conn: False)
    monkeypatch.setattr(stream_path, "INLINE", 3)  # several groups of exact-pass ids
    frame = from_storage(read_events(loaded, START, END))
    for case in CASES:
        kw = dict(case)
        steps = kw.pop("steps", CALC)
        a = funnel(frame, steps, **kw)
        b = funnel(loaded, steps, start_date=START, end_date=END, **kw)
        pd.testing.assert_frame_equal(a.table, b.table)
        assert a.people(1) == b.people(1)


def test_read_only_transaction_is_detected(engine):
    from analytics.funnel._sqlstream import can_create_temp

    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            assert can_create_temp(conn) is False
            write_events(engine, [_ev("A", "s", 0), _ev("B", "s", 3)])
            res = funnel(conn, _names("AB"), start_date=START, end_date=END)
            assert res.table["count"].tolist() == [1, 1]
            assert res.people(1) == ["s"]
        else:
            assert can_create_temp(conn) is True


def test_breakdown_is_the_best_attempts_entry_value(engine):
    # p1: opened from google, converted at once, reopened from bing -> google (fast pass, first entry).
    # p2: opened from google, no conversion within 60 s; reopened from bing and converted -> bing (exact pass).
    write_events(
        engine,
        [
            _event("ai_calculator_opened", "p1", 0, source="google"),
            _ev("B", "p1", 10),
            _event("ai_calculator_opened", "p1", 100, source="bing"),
            _event("ai_calculator_opened", "p2", 0, source="google"),
            _event("ai_calculator_opened", "p2", 100, source="bing"),
            _ev("B", "p2", 150),
        ],
    )
    res = funnel(engine, _names("AB"), window=60, breakdown="source", start_date=START, end_date=END)
    assert res.table[["breakdown", "step", "count"]].values.tolist() == [
        ["bing", 0, 1],
        ["bing", 1, 1],
        ["google", 0, 1],
        ["google", 1, 1],
    ]
    assert res.people(1, breakdown="google") == ["p1"]
    assert res.people(1, breakdown="bing") == ["p2"]
