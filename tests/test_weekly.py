"""Weekly report: KPI values against an independent pandas computation, flags, movers, plain data."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from analytics.errors import InvalidParameterError
from analytics.weekly import KPIS, generate_weekly_report

DEMO_END = dt.datetime(2026, 11, 23)  # a Monday; tests/conftest.py: the demo fixture ends here


def test_kpis_match_independent_computation(demo_engine, demo_data) -> None:  # noqa: ANN001
    rep = generate_weekly_report(demo_engine, as_of=DEMO_END, history=6)
    assert rep.week_start == dt.datetime(2026, 11, 16) and rep.week_end == dt.datetime(2026, 11, 23)
    ev = demo_data.events.assign(ts=lambda d: pd.to_datetime(d["timestamp"]))
    wk = ev[(ev["ts"] >= "2026-11-16") & (ev["ts"] < "2026-11-23")]
    opened = set(wk.loc[wk["event_type"] == "ai_calculator_opened", "session_id"])
    submitted = set(wk.loc[wk["event_type"] == "assessment_submitted", "session_id"])
    rev = wk[wk["event_type"].isin(["payment_succeeded", "subscription_renewed"])]
    assert rep.kpis.loc["sessions", "value"] == len(opened)
    assert rep.kpis.loc["completion_rate", "value"] == pytest.approx(len(opened & submitted) / len(opened))
    assert rep.kpis.loc["assessments", "value"] == (wk["event_type"] == "assessment_submitted").sum()
    assert rep.kpis.loc["revenue", "value"] == pytest.approx(sum(d["amount"] for d in rev["event_data"]))
    prev = ev[(ev["ts"] >= "2026-11-09") & (ev["ts"] < "2026-11-16")]
    assert (
        rep.kpis.loc["sessions", "previous_week"]
        == prev.loc[prev["event_type"] == "ai_calculator_opened", "session_id"].nunique()
    )
    assert list(rep.kpis.index) == list(KPIS)


def test_flags_follow_noise(demo_engine) -> None:  # noqa: ANN001
    rep = generate_weekly_report(demo_engine, as_of=DEMO_END, history=6)
    k = rep.kpis
    hist = rep.history.iloc[:-1]
    noise = hist["sessions"].diff().dropna().std(ddof=1)
    assert k.loc["sessions", "noise_sd"] == pytest.approx(noise)
    assert k.loc["sessions", "flagged"] == (abs(k.loc["sessions", "change"]) > 2 * noise)
    assert k.loc["sessions", "four_week_avg"] == pytest.approx(hist["sessions"].iloc[-4:].mean())


def test_movers_and_plain_data(demo_engine) -> None:  # noqa: ANN001
    rep = generate_weekly_report(demo_engine, as_of=DEMO_END, history=4, top=3)
    assert set(rep.movers) == {"sources", "job_titles", "industries"}
    for df in rep.movers.values():
        assert len(df) <= 3
        assert (df["z"].abs().diff().dropna() <= 1e-12).all()
    json.dumps(rep.to_dict())


def test_errors(demo_engine) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError) as err:
        generate_weekly_report(demo_engine, as_of=DEMO_END, history=2)
    assert str(err.value) == "'history' must be a whole number >= 4 (got 2)"


def test_kpi_table_formats_for_reading() -> None:
    import datetime as dt

    import numpy as np
    import pandas as pd

    from analytics.weekly import WeeklyReport

    kpis = pd.DataFrame(
        {
            "value": [4769.0, 0.589851, 40454.32, 220.5],
            "previous_week": [4328.0, 0.592, 36954.72, np.nan],
            "change": [441.0, -0.002149, 3499.6, np.nan],
            "change_pct": [0.101895, -0.003630, 0.0947, np.nan],
            "four_week_avg": [4161.0, 0.593, 33545.25, 200.0],
            "change_vs_avg": [608.0, -0.003, 6909.07, 20.5],
            "noise_sd": [95.0, 0.01, 4000.0, 15.0],
            "flagged": [True, False, False, False],
        },
        index=pd.Index(["sessions", "completion_rate", "revenue", "new_paying_users"], name="kpi"),
    )
    rep = WeeklyReport(dt.datetime(2026, 11, 16), dt.datetime(2026, 11, 23), kpis, pd.DataFrame(), {})
    assert rep.kpi_table().reset_index().values.tolist() == [
        ["sessions", "4,769", "4,328", "▲ +10.2%", "4,161"],
        ["completion rate", "59.0%", "59.2%", "-0.4%", "59.3%"],
        ["revenue", "$40,454.32", "$36,954.72", "+9.5%", "$33,545.25"],
        ["new paying users", "220.5", "–", "–", "200"],
    ]
