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
