"""Historical LTV by segment: sums against an independent pandas computation, interval formulas, errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.errors import InvalidParameterError
from analytics.identity import resolve_persons
from analytics.ltv.historical import ltv_by_segment, segment_ltv_table

DEMO_END = dt.datetime(2026, 11, 23)  # tests/conftest.py: the demo fixture ends here
START = DEMO_END - dt.timedelta(days=56)


def test_risk_level_segments_match_pandas(demo_engine, demo_data) -> None:  # noqa: ANN001
    ev = demo_data.events.assign(person=lambda d: resolve_persons(d)).sort_values("timestamp", kind="stable")
    a = ev[ev["event_type"] == "assessment_submitted"]
    first = a.assign(risk=[d["risk_level"] for d in a["event_data"]]).drop_duplicates("person")
    rev = ev[ev["event_type"].isin(["payment_succeeded", "subscription_renewed"])]
    per_person = (
        rev.assign(amount=[d["amount"] for d in rev["event_data"]])
        .groupby("person")["amount"]
        .agg(["sum", "size"])
    )
    merged = first.set_index("person")[["risk"]].join(per_person).fillna(0)
    res = ltv_by_segment(demo_engine, segment="risk_level", start_date=START, end_date=DEMO_END)
    for risk, g in merged.groupby("risk"):
        assert res.loc[risk, "users"] == len(g)
        assert res.loc[risk, "payers"] == int((g["size"] > 0).sum())
        assert res.loc[risk, "revenue_per_user"] == pytest.approx(g["sum"].mean())
        half = stats.t.ppf(0.975, len(g) - 1) * g["sum"].std(ddof=1) / np.sqrt(len(g))
        assert res.loc[risk, "revenue_per_user_high"] == pytest.approx(g["sum"].mean() + half)
    # configured ordering: upgrade clicks rise with risk level
    assert res.loc["high", "paying_share"] > res.loc["low", "paying_share"]


def test_interval_formulas_by_hand() -> None:
    # two users: (revenue, orders) = (10, 1) and (30, 2); one non-payer
    sums = pd.DataFrame(
        {
            "users": [3],
            "payers": [2],
            "revenue": [40.0],
            "revenue_sq": [1000.0],
            "orders": [3],
            "orders_sq": [5],
            "revenue_orders": [70.0],
        },
        index=pd.Index(["x"], name="seg"),
    )
    out = segment_ltv_table(sums)
    assert out.loc["x", "aov"] == pytest.approx(40 / 3)
    d = np.array([10 - 40 / 3, 30 - 80 / 3, 0.0])
    se = np.sqrt(d.var(ddof=1) / 3) / (3 / 3)
    assert out.loc["x", "aov_high"] == pytest.approx(40 / 3 + stats.norm.ppf(0.975) * se)
    r = np.array([10.0, 30.0, 0.0])
    half = stats.t.ppf(0.975, 2) * r.std(ddof=1) / np.sqrt(3)
    assert out.loc["x", "revenue_per_user_low"] == pytest.approx(r.mean() - half)
    lo = (2 / 3 + 1.96**2 / 6 - 1.96 * np.sqrt(2 / 9 / 3 + 1.96**2 / 36)) / (1 + 1.96**2 / 3)
    assert out.loc["x", "paying_share_low"] == pytest.approx(lo, abs=1e-3)


def test_unknown_segment(demo_engine) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError) as err:
        ltv_by_segment(demo_engine, segment="planet", start_date=START, end_date=DEMO_END)
    assert str(err.value) == (
        "'segment' must be one of ['risk_level', 'industry', 'job_title', 'country', 'source', 'medium', "
        "'lead_source', 'device'] (got 'planet')"
    )
