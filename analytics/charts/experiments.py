"""Plotly figures for the experiments notebook: SRM status, lift with intervals, cumulative lift, Bayesian view."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.experiments import ExperimentReport

__all__ = ["bayesian_chart", "cumulative_lift_chart", "lift_chart", "srm_chart"]


def _empty(title: str, reason: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=reason, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False)
    return fig


def srm_chart(report: ExperimentReport) -> go.Figure:
    """Observed vs expected units per variant for the current (or failing) phase; red when SRM fails."""
    srm = report.srm
    names = list(report.config.variant_names)
    color = "#2ca02c" if srm.ok else "#d62728"
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=list(srm.observed), name="observed units", marker_color=color))
    fig.add_trace(go.Scatter(x=names, y=list(srm.expected), mode="markers", name="expected from weights",
                             marker={"symbol": "line-ew-open", "size": 40, "line": {"width": 3}, "color": "black"}))
    status = "OK" if srm.ok else "SAMPLE RATIO MISMATCH"
    fig.update_layout(title=f"{report.config.name}: sample ratio {status} (p = {srm.p_value:.3g})",
                      yaxis_title="exposed units")
    return fig


def lift_chart(report: ExperimentReport, metric: str | None = None, *, relative: bool = True) -> go.Figure:
    """Lift of each treatment vs control with the fixed-horizon and the always-valid intervals (error bars)."""
    metric = metric or report.config.primary_metric
    m = report.metrics.get(metric)
    title = f"{report.config.name}: {'relative' if relative else 'absolute'} lift on {metric}"
    if m is None or not m.effects:
        return _empty(title, f"no results for {metric}")
    fig = go.Figure()
    for kind, source, color in (("fixed-horizon", m.effects, "#1f77b4"), ("always-valid", m.sequential, "#ff7f0e")):
        xs, ys, lo, hi = [], [], [], []
        for v, e in source.items():
            lift = e.relative if relative else e.absolute
            if lift.estimate is None or lift.ci is None:
                continue
            xs.append(f"{v} ({kind})")
            ys.append(lift.estimate)
            lo.append(lift.estimate - lift.ci.lower)
            hi.append(lift.ci.upper - lift.estimate)
        if xs:
            fig.add_trace(go.Scatter(
                x=ys, y=xs, mode="markers", name=f"{kind} {1 - report.alpha:.0%} interval", marker_color=color,
                error_x={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo},
            ))  # fmt: skip
    fig.add_vline(x=0, line_dash="dash", line_color="black")
    fig.update_layout(title=title, xaxis_tickformat=".0%" if relative else None, yaxis_title="variant")
    return fig


def cumulative_lift_chart(cum: pd.DataFrame, title: str = "Cumulative relative lift") -> go.Figure:
    """Relative lift by exposure day with its always-valid band (from :func:`analytics.experiments.cumulative`)."""
    if cum.empty:
        return _empty(title, "not enough exposed units yet")
    fig = go.Figure()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for i, (variant, g) in enumerate(cum.groupby("variant", sort=False)):
        c = palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=g["day"], y=g["seq_ci_high"], line_width=0, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=g["day"], y=g["seq_ci_low"], line_width=0, fill="tonexty", opacity=0.2,
                                 name=f"{variant} always-valid",
                                 line_color=c, hoverinfo="skip"))  # fmt: skip
        fig.add_trace(go.Scatter(x=g["day"], y=g["rel_lift"], name=variant, mode="lines", line_color=c))
    fig.add_hline(y=0, line_dash="dash", line_color="black")
    fig.update_layout(title=title, yaxis_tickformat=".0%", xaxis_title="exposure day", hovermode="x unified")
    return fig


def bayesian_chart(report: ExperimentReport, metric: str | None = None) -> go.Figure:
    """Chance to beat control per treatment (bars) with the expected loss of shipping it in the hover text."""
    metric = metric or report.config.primary_metric
    m = report.metrics.get(metric)
    title = f"{report.config.name}: chance to beat control on {metric}"
    if m is None or not m.bayesian:
        return _empty(title, f"no Bayesian view for {metric}")
    names = list(m.bayesian)
    probs = [m.bayesian[v].chance_to_beat_control for v in names]
    loss = [m.bayesian[v].expected_loss_treatment for v in names]
    fig = go.Figure(go.Bar(
        x=names, y=probs, text=[f"{p:.0%}" for p in probs], textposition="outside",
        hovertext=[f"expected loss if shipped: {x:.4g}" for x in loss],
        marker_color=["#2ca02c" if p >= 0.95 else "#d62728" if p <= 0.05 else "#7f7f7f" for p in probs],
    ))  # fmt: skip
    fig.add_hline(y=0.95, line_dash="dot", annotation_text="95 %")
    fig.update_layout(title=title, yaxis_tickformat=".0%", yaxis_range=[0, 1.1])
    return fig
