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
