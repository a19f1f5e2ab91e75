"""Lead-source comparison: independent counts, configured conversion rates recovered, tests vs scipy."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.identity import resolve_persons
from analytics.leads import compare_lead_sources, lead_rows

DEMO_END = dt.datetime(2026, 11, 23)  # tests/conftest.py: the demo fixture ends here
START = DEMO_END - dt.timedelta(days=56)


def test_lead_counts_match_events(demo_engine, demo_data) -> None:  # noqa: ANN001
    ev = demo_data.events.assign(person=lambda d: resolve_persons(d))
    leads = ev[ev["event_type"] == "lead_captured"].sort_values("timestamp")
    leads = leads.assign(src=[d["lead_source"] for d in leads["event_data"]]).drop_duplicates("person")
    src = leads["src"].value_counts().to_dict()  # a person counts once, with their first lead's source
    res = compare_lead_sources(demo_engine, start_date=START, end_date=DEMO_END)
    assert res.by_source["leads"].to_dict() == src


def test_configured_conversion_recovered(demo_engine, demo_data) -> None:  # noqa: ANN001
    rows = lead_rows(demo_engine, start_date=START, end_date=DEMO_END)
    res = compare_lead_sources(rows)
    end = pd.Timestamp(DEMO_END)
    for name, _share, p in demo_data.config.other_lead_sources:
        g = rows[rows["lead_source"] == name]
        # the generator pays after an exponential delay (mean 10 days) and drops payments after the end
        observable = 1 - np.exp(-((end - pd.to_datetime(g["captured_at"])).dt.total_seconds() / 86400) / 10)
        expected = p * observable.mean()
        lo, hi = res.by_source.loc[name, ["conversion_low", "conversion_high"]]
        se = np.sqrt(expected * (1 - expected) / len(g))
        assert abs(res.by_source.loc[name, "conversion_rate"] - expected) < 3.3 * se, name
        assert lo < res.by_source.loc[name, "conversion_rate"] < hi


def test_tests_match_scipy(demo_engine) -> None:  # noqa: ANN001
    rows = lead_rows(demo_engine, start_date=START, end_date=DEMO_END)
    res = compare_lead_sources(rows)
    ct = pd.crosstab(rows["lead_source"], rows["converted"]).to_numpy()
    chi2, p, dof, _ = stats.chi2_contingency(ct, correction=False)
    assert (res.chi2, res.chi2_p_value, res.chi2_dof) == (pytest.approx(chi2), pytest.approx(p), dof)
    web = rows.loc[rows["lead_source"] == "webinar", "revenue"]
    calc = rows.loc[rows["lead_source"] == "calculator", "revenue"]
    t = stats.ttest_ind(web, calc, equal_var=False).statistic
    assert res.vs_reference.loc["webinar", "welch_t"] == pytest.approx(t)
    # two-proportion z with pooled variance, by hand
    k1, n1 = int(rows.loc[rows["lead_source"] == "webinar", "converted"].sum()), len(web)
    k0, n0 = int(rows.loc[rows["lead_source"] == "calculator", "converted"].sum()), len(calc)
    pp = (k1 + k0) / (n1 + n0)
    z = (k1 / n1 - k0 / n0) / np.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n0))
    assert res.vs_reference.loc["webinar", "z"] == pytest.approx(z)
    assert (res.vs_reference["p_holm"] >= res.vs_reference["p_value"]).all()
