"""Reading a test: SRM first, then per-metric results, the Bayesian view, CUPED, and a decision.

Built only from the per-(variant, phase, day) sums of :func:`experiment_sums`, so it is the same for any data
size. Decisions use the sequential (always-valid) intervals, because people look at running tests every day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analytics.experiments._config import ExperimentConfig
from analytics.experiments._metrics import METRICS
from analytics.experiments._results import SUM_FIELDS
from analytics.experiments._stats import (
    BayesianResult,
    CupedEstimate,
    EffectEstimate,
    Interval,
    JointStats,
    SampleStats,
    SrmResult,
    apply_holm,
    beta_binomial,
    cuped_ttest,
    mean_interval,
    normal_means,
    proportion_interval,
    proportion_ztest,
    ratio_delta_test,
    sample_size_proportions,
    sequential_test,
    srm_check,
    welch_ttest,
)
from analytics.experiments._stats.frequentist import ratio_variance

__all__ = ["DECISION_RULE", "Decision", "ExperimentReport", "MetricResult", "VariantSummary", "analyse", "cumulative"]

DECISION_RULE = (
    "1. A failed SRM check (p < 0.001 in any phase) stops the test: results are untrustworthy. "
    "2. A treatment whose always-valid interval lies entirely below zero on the primary metric or a guardrail "
    "is harmful. 3. Ship the treatment with the highest chance to beat control among those whose always-valid "
    "interval on the primary metric lies entirely above zero (Holm-corrected across arms) and that harm no "
    "guardrail. 4. If every treatment is harmful, stop and keep control. 5. If each arm has reached the sample "
    "size needed to detect a {mde:.0%} relative change with 80 % power and nothing is significant, stop and keep "
    "control. 6. Otherwise keep running."
)


@dataclass(frozen=True)
class VariantSummary:
    """One arm on one metric: units, total (conversions or sum), mean (rate) with its interval."""

    variant: str
    units: int
    total: float
    mean: float
    ci: Interval


@dataclass(frozen=True)
class MetricResult:
    """All comparisons of one metric (treatments vs control), with their methods."""

    metric: str
    kind: str
    label: str
    role: str
    variants: tuple[VariantSummary, ...]
    effects: dict[str, EffectEstimate]
    sequential: dict[str, EffectEstimate]
    bayesian: dict[str, BayesianResult]
    cuped: dict[str, CupedEstimate] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The plain-language call: ``action`` is ``ship``, ``keep running`` or ``stop``."""

    action: str
    variant: str | None
    reason: str
    rule: str


@dataclass(frozen=True)
class ExperimentReport:
    """Everything known about a test at a point in time (see :func:`analyse`)."""

    config: ExperimentConfig
    alpha: float
    srm: SrmResult
    srm_by_phase: dict[int, SrmResult]
    metrics: dict[str, MetricResult]
    decision: Decision
    units_per_day: float
    warnings: tuple[str, ...] = ()

    def summary_frame(self) -> pd.DataFrame:
        """One row per metric × treatment: lifts with intervals, p-values, Bayesian view."""
        rows = []
        for m in self.metrics.values():
            for v, eff in m.effects.items():
                seq, bay = m.sequential.get(v), m.bayesian.get(v)
                rows.append({
                    "metric": m.metric, "role": m.role, "variant": v,
                    "control_mean": eff.control_mean, "variant_mean": eff.treatment_mean,
                    "abs_lift": eff.absolute.estimate,
                    "abs_ci_low": eff.absolute.ci.lower if eff.absolute.ci else None,
                    "abs_ci_high": eff.absolute.ci.upper if eff.absolute.ci else None,
                    "rel_lift": eff.relative.estimate,
                    "rel_ci_low": eff.relative.ci.lower if eff.relative.ci else None,
                    "rel_ci_high": eff.relative.ci.upper if eff.relative.ci else None,
                    "p_value": eff.p_value, "p_adjusted": eff.adjusted_p_value, "method": eff.method,
                    "correction": eff.correction,
                    "seq_rel_ci_low": seq.relative.ci.lower if seq and seq.relative.ci else None,
                    "seq_rel_ci_high": seq.relative.ci.upper if seq and seq.relative.ci else None,
                    "seq_p_adjusted": seq.adjusted_p_value if seq else None,
                    "chance_to_beat_control": bay.chance_to_beat_control if bay else None,
                    "expected_loss": bay.expected_loss_treatment if bay else None,
                })  # fmt: skip
        return pd.DataFrame(rows)

    def variants_frame(self) -> pd.DataFrame:
        """One row per metric × variant: units, total, mean and its interval."""
        return pd.DataFrame(
            [{"metric": m.metric, "variant": s.variant, "units": s.units, "total": s.total, "mean": s.mean,
              "ci_low": s.ci.lower, "ci_high": s.ci.upper} for m in self.metrics.values() for s in m.variants]
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for the sidecar's results endpoint)."""
        return {
            "test_id": self.config.test_id,
            "name": self.config.name,
            "status": self.config.status,
            "alpha": self.alpha,
            "srm": {"ok": self.srm.ok, "p_value": self.srm.p_value, "message": self.srm.message},
            "decision": {"action": self.decision.action, "variant": self.decision.variant,
                         "reason": self.decision.reason, "rule": self.decision.rule},
            "variants": self.variants_frame().to_dict(orient="records"),
            "effects": self.summary_frame().astype(object).where(lambda d: d.notna(), None).to_dict(orient="records"),
            "warnings": list(self.warnings),
        }  # fmt: skip


def _totals(sums: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    cols = [c for c in sums.columns if c == "n" or "__" in c]
    out = sums.groupby("variant")[cols].sum() if len(sums) else pd.DataFrame(columns=cols)
    return out.reindex(list(names)).fillna(0.0)


def _stats(row: pd.Series, metric: str) -> tuple[SampleStats, JointStats, JointStats]:
    n = int(row["n"])
    g = {f: float(row[f"{metric}__{f}"]) for f in SUM_FIELDS}
    y = SampleStats(n, g["sy"], g["syy"])
    cuped = JointStats(n, g["sy"], g["syy"], g["sx"], g["sxx"], g["sxy"])
    ratio = JointStats(n, g["sy"], g["syy"], g["sd"], g["sdd"], g["syd"])
    return y, cuped, ratio


def _metric_result(totals: pd.DataFrame, cfg: ExperimentConfig, name: str, role: str, alpha: float) -> MetricResult:
    m = METRICS[name]
    names = cfg.variant_names
    per = {v: _stats(totals.loc[v], name) for v in names}
    summaries, effects, seq, bayes, cuped = [], {}, {}, {}, {}
    notes: list[str] = []
    for v in names:
        y, _, r = per[v]
        if m.kind == "binary":
            summaries.append(VariantSummary(v, y.n, y.sum, y.mean, proportion_interval(y, alpha)))
        elif m.kind == "mean":
            summaries.append(VariantSummary(v, y.n, y.sum, y.mean, mean_interval(y, alpha)))
        else:
            mean = r.sum_y / r.sum_x if r.sum_x else 0.0
            half = 1.959963984540054 * ratio_variance(r) ** 0.5 if r.n > 1 and r.sum_x else 0.0
            summaries.append(VariantSummary(v, r.n, r.sum_y, mean, Interval(mean - half, mean + half, 1 - alpha)))
    c_y, c_j, c_r = per[names[0]]
    for v in names[1:]:
        t_y, t_j, t_r = per[v]
        if m.kind == "binary":
            effects[v] = proportion_ztest(c_y, t_y, alpha)
            seq[v] = sequential_test(c_y, t_y, alpha=alpha, proportion=True)
            bayes[v] = beta_binomial(c_y, t_y, alpha=alpha)
        elif m.kind == "mean":
            effects[v] = welch_ttest(c_y, t_y, alpha)
            seq[v] = sequential_test(c_y, t_y, alpha=alpha)
            bayes[v] = normal_means(c_y, t_y, alpha=alpha)
        else:
            effects[v] = ratio_delta_test(c_r, t_r, alpha)
        if m.kind in ("binary", "mean") and (c_j + t_j).x.variance > 0:
            cuped[v] = cuped_ttest(c_j, t_j, alpha=alpha)
    if m.kind == "ratio":
        notes.append("ratio metric: delta-method z-test only (no sequential or Bayesian view)")
    if len(effects) > 1:
        effects = dict(zip(effects, apply_holm(list(effects.values())), strict=True))
        seq = dict(zip(seq, apply_holm(list(seq.values())), strict=True)) if seq else seq
    return MetricResult(name, m.kind, m.label, role, tuple(summaries), effects, seq, bayes, cuped, tuple(notes))


def _decide(cfg: ExperimentConfig, srm_bad: bool, metrics: dict[str, MetricResult], mde: float,
            units_per_day: float) -> Decision:  # fmt: skip
    rule = DECISION_RULE.format(mde=mde)
    if srm_bad:
        return Decision("stop", None, "Sample ratio mismatch: fix assignment or exposure logging, then restart.", rule)
    primary = metrics[cfg.primary_metric]
    guards = [metrics[g] for g in cfg.guardrail_metrics if g in metrics]

    def below(e: EffectEstimate | None) -> bool:
        return e is not None and e.absolute.ci is not None and e.absolute.ci.upper < 0

    def above(e: EffectEstimate | None) -> bool:
        return e is not None and e.absolute.ci is not None and e.absolute.ci.lower > 0 and e.significant

    treatments = list(cfg.variant_names[1:])
    harmful = {v for v in treatments if below(primary.sequential.get(v) or primary.effects.get(v))
               or any(below(g.sequential.get(v) or g.effects.get(v)) for g in guards)}  # fmt: skip
    winners = [v for v in treatments if v not in harmful and above(primary.sequential.get(v) or primary.effects[v])]
    if winners:
        best = max(winners, key=lambda v: primary.bayesian[v].chance_to_beat_control if v in primary.bayesian else 0)
        e = primary.sequential.get(best) or primary.effects[best]
        rel = f"{e.relative.estimate:+.1%}" if e.relative.estimate is not None else "n/a"
        return Decision("ship", best, f"'{best}' beats control on {primary.metric} ({rel}, always-valid "
                        f"{1 - e.alpha:.0%} interval above zero) and harms no guardrail.", rule)  # fmt: skip
    if treatments and len(harmful) == len(treatments):
        return Decision("stop", None, "Every treatment is worse than control on the primary metric or a guardrail; "
                        "keep control.", rule)  # fmt: skip
    base = primary.variants[0]
    units = min(s.units for s in primary.variants)
    if primary.kind == "binary" and 0 < base.mean < 1 and 0 < base.mean * (1 + mde) < 1:
        need = sample_size_proportions(base.mean, mde).n_control
        if units >= need:
            return Decision("stop", None, f"Each arm has at least {need:,} units, enough to detect a {mde:.0%} "
                            "relative change, and nothing is significant: keep control.", rule)  # fmt: skip
        arms = len(cfg.variants)
        days = (need - units) * arms / units_per_day if units_per_day > 0 else float("inf")
        when = f"about {days:.0f} more days at current traffic" if days != float("inf") else "no traffic yet"
        return Decision("keep running", None, f"No clear result yet; {need:,} units per arm are needed to detect "
                        f"a {mde:.0%} relative change ({units:,} now, {when}).", rule)  # fmt: skip
    return Decision("keep running", None, "No clear result yet.", rule)


def analyse(
    cfg: ExperimentConfig,
    sums: pd.DataFrame,
    *,
    alpha: float = 0.05,
    metrics: list[str] | None = None,
    mde: float = 0.10,
    phase: int | None = None,
) -> ExperimentReport:
    """Build the report of a test from its sums (see :func:`experiment_sums`).

    Parameters
    ----------
    cfg:
        The test.
    sums:
        Per (variant, phase, day) sums.
    alpha:
        Significance level for every interval and test.
    metrics:
        Metrics to report (default: primary, guardrails and ``conversion``); must be present in ``sums``.
    mde:
        Relative minimum detectable effect used by the "enough data" stopping rule.
    phase:
        Analyse one phase only (default: all phases pooled; SRM is always checked per phase).
    """
    names = cfg.variant_names
    warnings: list[str] = []
    by_phase = {}
    for p in cfg.phases:
        counts = sums[sums["phase"] == p.index].groupby("variant")["n"].sum().reindex(list(names)).fillna(0)
        by_phase[p.index] = srm_check(counts.astype(int).tolist(), list(p.weights))
    if phase is not None:
        cfg.phase(phase)
        sums = sums[sums["phase"] == phase]
        srm = by_phase[phase]
    else:
        bad = [r for r in by_phase.values() if not r.ok]
        srm = bad[0] if bad else by_phase[cfg.current_phase.index]
        if len({p.weights for p in cfg.phases}) > 1:
            warnings.append("phases with different weights are pooled; use phase=<n> to read one phase alone")
    totals = _totals(sums, names)
    wanted = metrics or list(dict.fromkeys([cfg.primary_metric, *cfg.guardrail_metrics, "conversion"]))
    results = {}
    for name in wanted:
        if f"{name}__sy" not in sums.columns:
            continue
        role = "primary" if name == cfg.primary_metric else "guardrail" if name in cfg.guardrail_metrics else "secondary"
        results[name] = _metric_result(totals, cfg, name, role, alpha)
    days = sums["day"].nunique() if len(sums) else 0
    upd = float(sums["n"].sum()) / days if days else 0.0
    srm_bad = any(not r.ok for r in by_phase.values())
    if srm_bad:
        warnings.insert(0, srm.message)
    decision = _decide(cfg, srm_bad, results, mde, upd) if cfg.primary_metric in results else Decision(
        "keep running", None, "The primary metric was not computed.", DECISION_RULE.format(mde=mde))
    return ExperimentReport(cfg, alpha, srm, by_phase, results, decision, upd, tuple(warnings))


def cumulative(cfg: ExperimentConfig, sums: pd.DataFrame, metric: str, *, alpha: float = 0.05) -> pd.DataFrame:
    """Relative lift of each treatment over time, from the units exposed up to each day.

    Returns one row per (day, variant) with the cumulative units, the relative lift, its fixed-horizon and
    always-valid (sequential) intervals. Days are exposure days; each unit's outcome counts all its events up
    to the analysis end.
    """
    kind = METRICS[metric].kind
    names = cfg.variant_names
    cols = ["n"] + [f"{metric}__{f}" for f in SUM_FIELDS]
    daily = sums.groupby(["day", "variant"])[cols].sum().unstack("variant").fillna(0).cumsum()
    rows = []
    for day in daily.index:
        per = {v: _stats(daily.loc[day].xs(v, level="variant") if v in daily.columns.get_level_values(1)
                         else pd.Series(0.0, index=cols), metric)[0] for v in names}  # fmt: skip
        for v in names[1:]:
            c, t = per[names[0]], per[v]
            if c.n < 2 or t.n < 2:
                continue
            fixed = proportion_ztest(c, t, alpha) if kind == "binary" else welch_ttest(c, t, alpha)
            seq = sequential_test(c, t, alpha=alpha, proportion=kind == "binary")
            rows.append({
                "day": day, "variant": v, "units": c.n + t.n, "rel_lift": fixed.relative.estimate,
                "ci_low": fixed.relative.ci.lower if fixed.relative.ci else None,
                "ci_high": fixed.relative.ci.upper if fixed.relative.ci else None,
                "seq_ci_low": seq.relative.ci.lower if seq.relative.ci else None,
                "seq_ci_high": seq.relative.ci.upper if seq.relative.ci else None,
            })  # fmt: skip
    return pd.DataFrame(rows)
