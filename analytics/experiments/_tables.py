"""Tables over several test reports, for the notebook and scheduled reports."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from analytics.experiments._analysis import ExperimentReport

__all__ = ["decisions_frame", "results_frame", "srm_frame"]


def srm_frame(reports: Mapping[str, ExperimentReport]) -> pd.DataFrame:
    """One row per test and phase: observed units per arm, chi-square p-value, and whether the check passed."""
    rows = []
    for tid, r in reports.items():
        for phase, s in r.srm_by_phase.items():
            rows.append({
                "test_id": tid, "phase": phase, "observed": ", ".join(map(str, s.observed)),
                "expected": ", ".join(f"{e:.0f}" for e in s.expected), "p_value": s.p_value,
                "ok": s.ok, "message": s.message,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=["test_id", "phase", "observed", "expected", "p_value", "ok", "message"])


def results_frame(reports: Mapping[str, ExperimentReport]) -> pd.DataFrame:
    """Every test's :meth:`ExperimentReport.summary_frame`, with a ``test_id`` column first."""
    frames = [r.summary_frame().assign(test_id=tid) for tid, r in reports.items()]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return out[["test_id", *[c for c in out.columns if c != "test_id"]]]


def decisions_frame(reports: Mapping[str, ExperimentReport]) -> pd.DataFrame:
    """One row per test: the decision, the variant to ship (if any) and the reason in plain language."""
    return pd.DataFrame(
        [{"test_id": tid, "test": r.config.name, "decision": r.decision.action, "variant": r.decision.variant,
          "reason": r.decision.reason} for tid, r in reports.items()],
        columns=["test_id", "test", "decision", "variant", "reason"],
    )  # fmt: skip
