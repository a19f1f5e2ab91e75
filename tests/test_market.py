"""Market intelligence on generator data: counts match an independent pandas count, configured risk mixes
recover, errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analytics.errors import InvalidParameterError
from analytics.market import market_intelligence

DEMO_END = dt.datetime(2026, 11, 23)  # tests/conftest.py: the demo fixture ends here


def _assessments(demo_data) -> pd.DataFrame:  # noqa: ANN001
    ev = demo_data.events
    a = ev[ev["event_type"] == "assessment_submitted"]
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(a["timestamp"]),
            "title": [d["job_title"] for d in a["event_data"]],
            "industry": [d["industry"] for d in a["event_data"]],
            "risk": [d["risk_level"] for d in a["event_data"]],
        }
    )


def test_counts_match_independent_count(demo_engine, demo_data) -> None:  # noqa: ANN001
    m = market_intelligence(demo_engine, end=DEMO_END, time_period_days=28)
    a = _assessments(demo_data)
    end = pd.Timestamp(DEMO_END)
    cur = a[(a["ts"] >= end - pd.Timedelta(days=28)) & (a["ts"] < end)]
    prev = a[(a["ts"] >= end - pd.Timedelta(days=56)) & (a["ts"] < end - pd.Timedelta(days=28))]
    assert m.total_assessments == len(cur) and m.previous_total == len(prev)
    assert m.industries["assessments"].to_dict() == cur["industry"].value_counts().to_dict()
    tech = cur[cur["industry"] == "Technology"]
    assert m.industries.loc["Technology", "high_share"] == pytest.approx((tech["risk"] == "high").mean())


def test_configured_risk_mix_recovered(demo_engine, demo_data) -> None:  # noqa: ANN001
    m = market_intelligence(demo_engine, end=DEMO_END, time_period_days=28)
    jobs = {j.title: j.risk_probs for j in demo_data.config.jobs}
    checked = 0
    for title, row in m.job_titles.iterrows():
        if row["assessments"] < 40:
            continue
        # 99.9 % Wilson interval per title (about 20 titles: a chance miss is unlikely)
        k = round(row["high_share"] * row["assessments"])
        lo, hi = proportion_confint(k, row["assessments"], alpha=0.001, method="wilson")
        assert lo <= jobs[title][2] <= hi, title
        checked += 1
    assert checked >= 5
    # the generator's risk mix per title does not change over time: no overall mix change expected at 0.1 %
    assert m.mix_change.dof == 2 and m.mix_change.p_value > 0.001


def test_chi_square_matches_scipy_by_hand(demo_engine, demo_data) -> None:  # noqa: ANN001
    from scipy.stats import chi2_contingency

    a = _assessments(demo_data)
    end = pd.Timestamp(DEMO_END)
    a = a[(a["ts"] >= end - pd.Timedelta(days=56)) & (a["ts"] < end)]
    a["period"] = np.where(a["ts"] >= end - pd.Timedelta(days=28), "current", "previous")
    table = pd.crosstab(a["period"], a["risk"]).reindex(columns=["low", "medium", "high"]).to_numpy()
    chi2 = chi2_contingency(table, correction=False)[0]
    m = market_intelligence(demo_engine, end=DEMO_END, time_period_days=28)
    assert m.mix_change.statistic == pytest.approx(chi2)


def test_errors(demo_engine) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError) as err:
        market_intelligence(demo_engine, end=DEMO_END, time_period_days=0)
    assert str(err.value) == "'time_period_days' must be a whole number >= 1 (got 0)"
