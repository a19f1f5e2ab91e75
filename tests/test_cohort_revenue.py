"""Conversion and revenue by cohort: a hand-checked case, SQL == DataFrame (hand data and demo data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analytics.cohort_revenue import cohort_revenue
from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.storage import write_events

NAN = np.nan
# Sunday weeks from 2024-01-07: week 0 = 01-07..13, week 1 = 01-14..20, week 2 = 01-21..27
HAND = [
    ("A", "ai_calculator_opened", "2024-01-08 10:00", None),
    ("A", "payment_succeeded", "2024-01-09 10:00", 49.99),
    ("A", "subscription_renewed", "2024-01-22 10:00", 49.99),
    ("B", "ai_calculator_opened", "2024-01-10 10:00", None),
    ("C", "ai_calculator_opened", "2024-01-15 10:00", None),
    ("C", "payment_succeeded", "2024-01-23 10:00", 99.99),
    ("D", "ai_calculator_opened", "2024-01-02 10:00", None),  # first seen before the range: no cohort
    ("D", "payment_succeeded", "2024-01-16 10:00", 79.99),
    ("E", "payment_succeeded", "2024-01-12 10:00", 49.99),  # paid before its cohort period: not counted
    ("E", "ai_calculator_opened", "2024-01-16 10:00", None),
    ("A", "ai_calculator_opened", "2024-01-28 10:00", None),  # after the range
    ("A", "subscription_renewed", "2024-01-28 11:00", 49.99),
]
KW = {"start_date": "2024-01-07", "end_date": "2024-01-27", "period": "week"}


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": [p for p, *_ in HAND],
            "user_id": [f"u{p}" for p, *_ in HAND],
            "event_type": [t for _, t, _, _ in HAND],
            "timestamp": pd.to_datetime([ts for _, _, ts, _ in HAND]),
            "event_data": [{} if a is None else {"plan": "basic", "amount": a, "period": 1} for *_, a in HAND],
        }
    )


def _write(engine, ev: pd.DataFrame) -> None:  # noqa: ANN001
    raw = [
        {"event_type": r.event_type, "session_id": r.session_id, "user_id": r.user_id,
         "timestamp": r.timestamp.isoformat() + "Z", "event_data": r.event_data}
        for r in ev.itertuples(index=False)
    ]
    write_events(engine, [validate_event(e) for e in raw])


def _eq(df: pd.DataFrame, expected: list[list[float]]) -> None:
    np.testing.assert_allclose(df.to_numpy(), np.array(expected, dtype=float), rtol=1e-12, equal_nan=True)


def test_by_hand() -> None:
    res = cohort_revenue(_frame(), **KW)
    assert res.sizes.tolist() == [2, 2, 0]
    _eq(res.revenue, [[49.99, 0, 49.99], [0, 99.99, NAN], [0, NAN, NAN]])
    _eq(res.paying, [[1, 0, 1], [0, 1, NAN], [0, NAN, NAN]])
    _eq(res.converted, [[1, 1, 1], [0, 1, NAN], [0, NAN, NAN]])
    _eq(res.conversion_rate, [[0.5, 0.5, 0.5], [0, 0.5, NAN], [NAN, NAN, NAN]])
    _eq(res.cumulative_revenue_per_user, [[24.995, 24.995, 49.99], [0, 49.995, NAN], [NAN, NAN, NAN]])
    s = res.summary
    assert s["converted"].tolist() == [1, 1, 0]
    lo, hi = proportion_confint(1, 2, alpha=0.05, method="wilson")
    assert s["conversion_low"].iloc[0] == pytest.approx(lo) and s["conversion_high"].iloc[0] == pytest.approx(hi)
    per_member = np.array([99.98, 0.0])  # A, B
    half = stats.norm.ppf(0.975) * per_member.std(ddof=1) / np.sqrt(2)
    assert s["revenue_per_user"].iloc[0] == pytest.approx(49.99)
    assert s["revenue_per_user_low"].iloc[0] == pytest.approx(49.99 - half)
    assert s["revenue_per_user_high"].iloc[0] == pytest.approx(49.99 + half)
    assert s["note"].tolist() == ["fewer than 10 payers: the revenue interval is only indicative"] * 2 + [
        "empty cohort: rates undefined"
    ]


def test_sql_equals_dataframe_by_hand(engine) -> None:  # noqa: ANN001
    ev = _frame()
    _write(engine, ev)
    in_db, in_frame = cohort_revenue(engine, **KW), cohort_revenue(ev, **KW)
    for name in ("revenue", "paying", "converted", "cumulative_revenue_per_user"):
        pd.testing.assert_frame_equal(getattr(in_db, name), getattr(in_frame, name))
    pd.testing.assert_frame_equal(in_db.summary, in_frame.summary)


@pytest.mark.parametrize("period", ["week", "month"])
def test_sql_equals_dataframe_on_demo(demo_engine, demo_data, period: str) -> None:  # noqa: ANN001
    kw = {"start_date": demo_data.start, "end_date": demo_data.end - pd.Timedelta(seconds=1), "period": period}
    in_db, in_frame = cohort_revenue(demo_engine, **kw), cohort_revenue(demo_data.events, **kw)
    assert in_db.sizes.sum() > 1000 and in_db.summary["converted"].sum() > 50
    pd.testing.assert_frame_equal(in_db.paying, in_frame.paying)
    pd.testing.assert_frame_equal(in_db.converted, in_frame.converted)
    pd.testing.assert_frame_equal(in_db.revenue, in_frame.revenue, rtol=1e-9)
    pd.testing.assert_frame_equal(in_db.summary, in_frame.summary, rtol=1e-9)


def test_errors() -> None:
    with pytest.raises(InvalidParameterError) as err:
        cohort_revenue(_frame(), level=0, **KW)
    assert str(err.value) == "'level' must be between 0 and 1 (got 0)"
    with pytest.raises(InvalidParameterError) as err:
        cohort_revenue(_frame(), start_date="2024-01-07", end_date="2024-01-27", period="year")
    assert str(err.value) == "'period' must be one of ['day', 'week', 'month'] (got 'year')"


def test_analyze_cohorts_carries_revenue(demo_engine, demo_data) -> None:  # noqa: ANN001
    from analytics.bi import BusinessIntelligence

    start, end = "2026-10-01", "2026-11-22"
    out = BusinessIntelligence(demo_engine).analyze_cohorts(start, end, period="week")
    direct = cohort_revenue(demo_data.events, start_date=start, end_date=end, period="week")
    assert len(out["cohort_summary"]) == len(out["cohorts"]) == len(direct.sizes)
    assert [r["converted"] for r in out["cohort_summary"]] == direct.summary["converted"].tolist()
    got = np.array(out["cumulative_revenue_per_user"], dtype=float)
    np.testing.assert_allclose(got, direct.cumulative_revenue_per_user.to_numpy(), rtol=1e-9, equal_nan=True)
