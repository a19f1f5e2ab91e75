"""SQL sufficient statistics against an independent pandas computation, and recovery of the demo's effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.demo.experiments import TRUE_EFFECTS
from analytics.experiments import ABTesting, experiment_sums, get_test, srm_check
from analytics.identity import resolve_persons


def _pandas_sums(demo_data, test_id: str, unit: str) -> pd.DataFrame:
    ev = demo_data.events.copy()
    ev["timestamp"] = pd.to_datetime(ev["timestamp"])
    ev["unit_id"] = ev["session_id"] if unit == "session" else resolve_persons(ev)
    a = pd.DataFrame(demo_data.ab_assignments)
    a = a[a["test_id"] == test_id]
    clicks = ev[ev["event_type"] == "paid_upgrade_clicked"][["unit_id", "timestamp"]]
    m = a.merge(clicks, on="unit_id", how="left")
    m["y"] = (m["timestamp"] >= m["first_exposure_at"]).astype(int)
    m["x"] = (m["timestamp"] < m["first_exposure_at"]).astype(int)
    per_unit = m.groupby(["unit_id", "variant"])[["y", "x"]].max().reset_index()
    rev = ev[ev["event_type"].isin(["payment_succeeded", "subscription_renewed"])].copy()
    rev["amount"] = [d.get("amount", 0.0) for d in rev["event_data"]]
    r = a.merge(rev[["unit_id", "timestamp", "amount"]], on="unit_id", how="left")
    r["rev"] = np.where(r["timestamp"] >= r["first_exposure_at"], r["amount"].fillna(0), 0.0)
    per_unit = per_unit.merge(r.groupby("unit_id")["rev"].sum().reset_index(), on="unit_id")
    return per_unit.groupby("variant").agg(
        n=("y", "size"), sy=("y", "sum"), sx=("x", "sum"), rev=("rev", "sum"), rev2=("rev", lambda s: (s**2).sum())
    )


@pytest.mark.parametrize("test_id", ["demo-urgency-messaging", "demo-personalization", "demo-pricing-offers"])
def test_sql_sums_equal_pandas(demo_engine, demo_data, test_id):
    cfg = get_test(demo_engine, test_id)
    sql = experiment_sums(demo_engine, cfg, metrics=["conversion", "revenue"]).groupby("variant").sum(numeric_only=True)
    ref = _pandas_sums(demo_data, test_id, cfg.unit)
    assert sql["n"].to_dict() == ref["n"].to_dict()
    assert sql["conversion__sy"].to_dict() == pytest.approx(ref["sy"].astype(float).to_dict())
    assert sql["conversion__sx"].to_dict() == pytest.approx(ref["sx"].astype(float).to_dict())
    assert sql["revenue__sy"].to_dict() == pytest.approx(ref["rev"].to_dict())
    assert sql["revenue__syy"].to_dict() == pytest.approx(ref["rev2"].to_dict())


def test_srm_per_phase_uses_each_phase_weights(demo_engine):
    report = ABTesting(demo_engine).get_results("demo-urgency-messaging")
    sums = experiment_sums(demo_engine, report.config, metrics=["conversion"])
    phase0 = sums[sums["phase"] == 0].groupby("variant")["n"].sum().reindex(["control", "soft", "strong"])
    assert report.srm_by_phase[0].p_value == pytest.approx(srm_check(phase0.tolist(), [0.8, 0.1, 0.1]).p_value)
    assert all(r.ok for r in report.srm_by_phase.values())
    assert report.warnings == ("phases with different weights are pooled; use phase=<n> to read one phase alone",)


@pytest.mark.parametrize("test_id", sorted(TRUE_EFFECTS))
def test_demo_true_effects_inside_intervals(demo_engine, test_id):
    report = ABTesting(demo_engine).get_results(test_id)
    assert report.srm.ok
    conv = report.metrics["conversion"]
    for variant, effect in TRUE_EFFECTS[test_id].items():
        ci = conv.effects[variant].relative.ci
        assert ci.lower <= effect <= ci.upper, (variant, effect, ci)
        seq = conv.sequential[variant].relative.ci
        assert seq.lower <= ci.lower and ci.upper <= seq.upper  # always-valid intervals are wider


def test_report_views(demo_engine):
    ab = ABTesting(demo_engine)
    report = ab.get_results("demo-personalization")
    frame = report.summary_frame()
    assert list(frame["variant"]) == ["industry", "industry"]
    assert set(frame["metric"]) == {"conversion", "revenue"}
    assert report.decision.action in {"ship", "keep running", "stop"}
    assert report.decision.rule.startswith("1. A failed SRM check")
    d = report.as_dict()
    assert d["srm"]["ok"] is True and d["decision"]["action"] == report.decision.action
    cum = ab.get_cumulative("demo-personalization")
    assert list(cum.columns) == ["day", "variant", "units", "rel_lift", "ci_low", "ci_high", "seq_ci_low", "seq_ci_high"]
    assert cum["units"].is_monotonic_increasing
    last = cum.iloc[-1]
    assert last["rel_lift"] == pytest.approx(report.metrics["conversion"].effects["industry"].relative.estimate)
