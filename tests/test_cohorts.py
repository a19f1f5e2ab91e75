"""Cohort retention (semantics rules 12-14): hand-built cases, CDNOW monthly cohorts, SQL == DataFrame."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd
import pytest

from analytics.cohorts import period_starts, retention_matrix
from analytics.errors import InvalidParameterError
from analytics.identity import upsert_sessions
from analytics.ltv import cdnow_dir, load_cdnow_transactions
from analytics.schema import analytics_events

NAN = np.nan

# person: event times (all "ai_calculator_opened"); weeks of 2024: Sun 01-07, Sun 01-14, Sun 01-21
TINY = {
    "A": ["2024-01-07 10:00", "2024-01-08 09:00", "2024-01-20 12:00", "2024-01-27 23:59"],
    "B": ["2024-01-13 23:59:59", "2024-01-21 00:00"],
    "C": ["2024-01-01 08:00", "2024-01-15 08:00"],
    "D": ["2024-01-16 08:00", "2024-01-25 08:00"],
}


def _tiny_events() -> pd.DataFrame:
    rows = [
        {"session_id": p, "user_id": None, "event_type": "ai_calculator_opened", "timestamp": pd.Timestamp(t)}
        for p, times in TINY.items()
        for t in times
    ]
    return pd.DataFrame(rows)


def _insert(engine, events: pd.DataFrame) -> None:  # noqa: ANN001
    now = dt.datetime(2024, 6, 1)
    rows = [
        {
            "event_id": uuid.uuid4().hex,
            "event_type": r.event_type,
            "user_id": r.user_id,
            "session_id": r.session_id,
            "timestamp": pd.Timestamp(r.timestamp).to_pydatetime(),
            "received_at": now,
            "event_data": {},
        }
        for r in events.itertuples(index=False)
    ]
    with engine.begin() as conn:
        conn.execute(analytics_events.insert(), rows)
        upsert_sessions(conn, [(r["session_id"], r["user_id"], r["timestamp"]) for r in rows])


def _assert_matrix(df: pd.DataFrame, expected: list[list[float]]) -> None:
    np.testing.assert_array_equal(df.to_numpy(), np.array(expected, dtype=float))


def test_recurring_sunday_weeks_by_hand() -> None:
    res = retention_matrix(_tiny_events(), start_date="2024-01-07", end_date="2024-01-22", period="week")
    assert list(res.counts.index) == [
        pd.Timestamp("2024-01-07"),
        pd.Timestamp("2024-01-14"),
        pd.Timestamp("2024-01-21"),
    ]
    # cohort 0 {A, B}: A back in week 1; A and B in week 2 (01-27 23:59 counts: last period included in full)
    _assert_matrix(res.counts, [[2, 1, 2], [3, 2, NAN], [3, NAN, NAN]])
    _assert_matrix(res.counts_or_later, [[2, 2, 2], [3, 2, NAN], [3, NAN, NAN]])
    _assert_matrix(res.rates, [[1, 0.5, 1], [1, 2 / 3, NAN], [1, NAN, NAN]])
    assert res.sizes.tolist() == [2, 3, 3]


def test_recurring_monday_weeks_by_hand() -> None:
    res = retention_matrix(
        _tiny_events(), start_date="2024-01-07", end_date="2024-01-22", period="week", week_start="monday"
    )
    assert res.counts.index[0] == pd.Timestamp("2024-01-01")  # the first period contains the start date
    _assert_matrix(res.counts, [[2, 1, 2, 1], [2, 2, 1, NAN], [4, 2, NAN, NAN], [2, NAN, NAN, NAN]])
    _assert_matrix(res.counts_or_later, [[2, 2, 2, 1], [2, 2, 1, NAN], [4, 2, NAN, NAN], [2, NAN, NAN, NAN]])


def test_first_time_excludes_earlier_starters_and_explains_empty_cohort() -> None:
    res = retention_matrix(
        _tiny_events(),
        start_date="2024-01-07",
        end_date="2024-01-22",
        period="week",
        cohort_type="first_time",
    )
    # C first came on 01-01 (before the range): in no cohort
    _assert_matrix(res.counts, [[2, 1, 2], [1, 1, NAN], [0, NAN, NAN]])
    assert np.isnan(res.rates.iloc[2, 0])
    assert res.notes == ("cohort 2024-01-21 is empty: its rates are undefined",)


def test_day_periods_same_period_return_does_not_count() -> None:
    ev = pd.DataFrame(
        {
            "person_id": ["x", "x", "x", "y"],
            "event_type": [
                "assessment_submitted",
                "payment_succeeded",
                "payment_succeeded",
                "assessment_submitted",
            ],
            "timestamp": pd.to_datetime(
                ["2024-03-01 10:00", "2024-03-01 11:00", "2024-03-03 09:00", "2024-03-02 00:00"]
            ),
        }
    )
    res = retention_matrix(
        ev,
        start_date="2024-03-01",
        end_date="2024-03-03",
        period="day",
        target_event="assessment_submitted",
        returning_event="payment_succeeded",
    )
    _assert_matrix(res.counts, [[1, 0, 1], [1, 0, NAN], [0, NAN, NAN]])
    _assert_matrix(res.counts_or_later, [[1, 1, 1], [1, 0, NAN], [0, NAN, NAN]])


def test_identity_resolution_joins_sessions_of_one_user() -> None:
    ev = pd.DataFrame(
        {
            "session_id": ["s1", "s1", "s2"],
            "user_id": [None, "u1", "u1"],
            "event_type": ["ai_calculator_opened"] * 3,
            "timestamp": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:05", "2024-01-09 00:00"]),
        }
    )
    res = retention_matrix(
        ev, start_date="2024-01-01", end_date="2024-01-09", period="week", week_start="monday"
    )
    _assert_matrix(res.counts, [[1, 1], [1, NAN]])


@pytest.mark.parametrize("week_start", ["sunday", "monday"])
@pytest.mark.parametrize("cohort_type", ["recurring", "first_time"])
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_sql_equals_dataframe(engine, period: str, cohort_type: str, week_start: str) -> None:  # noqa: ANN001
    ev = _tiny_events()
    ev.loc[len(ev)] = {
        "session_id": "A2",
        "user_id": None,
        "event_type": "ai_calculator_opened",
        "timestamp": pd.Timestamp("2024-02-02 10:00"),
    }
    _insert(engine, ev)
    kw = {
        "start_date": "2024-01-05",
        "end_date": "2024-02-03",
        "period": period,
        "week_start": week_start,
        "cohort_type": cohort_type,
    }
    in_db = retention_matrix(engine, **kw)
    in_frame = retention_matrix(ev, **kw)
    pd.testing.assert_frame_equal(in_db.counts, in_frame.counts)
    pd.testing.assert_frame_equal(in_db.counts_or_later, in_frame.counts_or_later)


cdnow = pytest.mark.skipif(not (cdnow_dir() / "CDNOW_master.txt").exists(), reason="CDNOW data not present")


@cdnow
def test_cdnow_monthly_first_purchase_cohorts() -> None:
    tx = load_cdnow_transactions("master")
    ev = pd.DataFrame(
        {"person_id": tx["customer_id"].astype(str), "event_type": "purchase", "timestamp": tx["date"]}
    )
    res = retention_matrix(
        ev,
        start_date="1997-01-01",
        end_date="1998-06-30",
        period="month",
        cohort_type="first_time",
        target_event="purchase",
    )
    # independent hand computation: month of each customer's first purchase, months with a purchase
    first = tx.groupby("customer_id")["date"].min().dt.to_period("M")
    assert first.value_counts().sort_index().tolist() == [7846, 8476, 7248]  # Jan, Feb, Mar 1997: all 23,570
    months = tx.assign(m=tx["date"].dt.to_period("M"), f=tx["customer_id"].map(first))
    months = months.drop_duplicates(["customer_id", "m"])
    jan_back_feb = int(
        ((months["f"] == pd.Period("1997-01", "M")) & (months["m"] == pd.Period("1997-02", "M"))).sum()
    )
    assert res.counts.iloc[0, 1] == jan_back_feb == 1157
    assert res.counts.iloc[:3, :4].to_numpy().tolist() == [
        [7846, 1157, 964, 810],
        [8476, 1312, 980, 783],
        [7248, 1032, 752, 756],
    ]
    later = months[months["m"] > months["f"]].groupby(["f", "customer_id"])["m"].max()
    jan_any_repeat = int((later.loc[pd.Period("1997-01", "M")] >= pd.Period("1997-02", "M")).sum())
    assert res.counts_or_later.iloc[0, 1] == jan_any_repeat == 3654
    assert res.counts.iloc[3:, 0].sum() == 0  # no customer acquired after March 1997
    assert np.isnan(res.counts.iloc[17, 1]) and res.counts.shape == (18, 18)


def test_period_starts_and_errors() -> None:
    assert period_starts("2024-01-31", "2024-03-01", "month") == [
        dt.datetime(2024, 1, 1),
        dt.datetime(2024, 2, 1),
        dt.datetime(2024, 3, 1),
    ]
    with pytest.raises(InvalidParameterError) as err:
        retention_matrix(_tiny_events(), start_date="2024-01-07", end_date="2024-01-22", period="year")
    assert str(err.value) == "'period' must be one of ['day', 'week', 'month'] (got 'year')"
    with pytest.raises(InvalidParameterError) as err:
        retention_matrix(_tiny_events(), start_date="2024-02-07", end_date="2024-01-22")
    assert (
        str(err.value)
        == "'end_date' must not be before 'start_date' (got end_date=2024-01-22, start_date=2024-02-07)"
    )
    with pytest.raises(InvalidParameterError) as err:
        retention_matrix(_tiny_events(), start_date="2024-01-07", end_date="2024-01-22", cohort_type="new")
    assert str(err.value) == "'cohort_type' must be one of ['recurring', 'first_time'] (got 'new')"
    with pytest.raises(InvalidParameterError) as err:
        retention_matrix(_tiny_events(), start_date="2024-01-07", end_date="2024-01-22", target_event=[])
    assert str(err.value) == "'target_event' must be an event type or a non-empty list of them (got [])"


def test_sql_planner_settings_are_restored(engine) -> None:  # noqa: ANN001
    from sqlalchemy import text

    _insert(engine, _tiny_events())
    names = ("enable_nestloop", "jit", "work_mem")
    with engine.connect() as conn:
        pg = conn.dialect.name == "postgresql"

        def settings() -> list[str]:
            return [conn.execute(text(f"SELECT current_setting('{k}')")).scalar_one() for k in names] if pg else []

        before = settings()
        res = retention_matrix(conn, start_date="2024-01-07", end_date="2024-01-22", period="week")
        assert settings() == before
    assert res.sizes.tolist() == [2, 3, 3]
