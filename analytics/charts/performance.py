"""Plotly figures for the performance notebook: load-time percentiles, error rate, slow queries, email and
payment health, and the alerts that fired."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.performance.stats import LatencyStats, Rate

__all__ = ["alerts_chart", "error_rate_chart", "health_chart", "load_time_chart", "slow_queries_chart"]


def _empty(title: str, reason: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=reason, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False)
    return fig


def load_time_chart(series: pd.DataFrame, threshold_ms: float = 3000.0,
                    title: str = "Calculator load time") -> go.Figure:
    """p50/p95/p99 per bucket (from :func:`analytics.performance.series.latency_series`), the p95 interval
    as a band, and the alert threshold as a dashed line."""
    if series.empty:
        return _empty(title, "no page_load_timing events in the period")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=series["bucket"], y=series["p95_high"], line_width=0, showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=series["bucket"], y=series["p95_low"], line_width=0, fill="tonexty",
                             fillcolor="rgba(214,39,40,0.15)", name="p95 95% CI", hoverinfo="skip"))
    for col, color in (("p50", "#1f77b4"), ("p95", "#d62728"), ("p99", "#9467bd")):
        fig.add_trace(go.Scatter(x=series["bucket"], y=series[col], name=col, mode="lines+markers",
                                 line_color=color))
    fig.add_hline(y=threshold_ms, line_dash="dash", line_color="black",
                  annotation_text=f"alert {threshold_ms / 1000:g} s")
    fig.update_layout(title=title, yaxis_title="ms", hovermode="x unified")
    return fig


def error_rate_chart(series: pd.DataFrame, threshold: float = 0.05) -> go.Figure:
    """Share of sessions with a client error per bucket with its Wilson interval, and the 5 % line."""
    title = "Client error rate (sessions with an error)"
    if series.empty:
        return _empty(title, "no events in the period")
    fig = go.Figure(go.Scatter(
        x=series["bucket"], y=series["rate"], mode="lines+markers", name="error rate",
        error_y={"type": "data", "symmetric": False, "array": series["ci_high"] - series["rate"],
                 "arrayminus": series["rate"] - series["ci_low"]},
        customdata=series[["error_sessions", "sessions"]], hovertemplate="%{y:.2%} (%{customdata[0]} of "
        "%{customdata[1]} sessions)<extra></extra>"))
    fig.add_hline(y=threshold, line_dash="dash", line_color="red", annotation_text=f"{threshold:.0%} alert")
    fig.update_layout(title=title, yaxis_tickformat=".0%", yaxis_rangemode="tozero")
    return fig


def slow_queries_chart(stats: dict[str, LatencyStats], threshold_ms: float = 1000.0) -> go.Figure:
    """p95 (with its interval) and max of each database query, the slow-query threshold as a line."""
    title = "Database query times"
    rows = [(k, s) for k, s in stats.items() if s.count]
    if not rows:
        return _empty(title, "no database query timings kept in this process")
    names = [k for k, _ in rows]
    p95 = [s.p95.value for _, s in rows]
    hi = [(s.p95.ci_high if s.p95.ci_high is not None else s.max) - s.p95.value for _, s in rows]
    lo = [s.p95.value - (s.p95.ci_low if s.p95.ci_low is not None else 0.0) for _, s in rows]
    fig = go.Figure([
        go.Bar(y=names, x=p95, orientation="h", name="p95",
               error_x={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo}),
        go.Scatter(y=names, x=[s.max for _, s in rows], mode="markers", name="max", marker_symbol="x"),
    ])
    fig.add_vline(x=threshold_ms, line_dash="dash", line_color="red", annotation_text="slow")
    fig.update_layout(title=title, xaxis_title="ms", yaxis_autorange="reversed")
    return fig


def health_chart(rates: dict[str, Rate]) -> go.Figure:
    """Email delivery/open/bounce and payment success rates with Wilson intervals; missing rates are listed
    with their reason instead of a bar."""
    title = "Email and payment health"
    shown = {k: r for k, r in rates.items() if r.value is not None}
    if not shown:
        return _empty(title, "; ".join(f"{k}: {r.reason}" for k, r in rates.items()) or "no rates")
    fig = go.Figure(go.Bar(
        x=list(shown), y=[r.value for r in shown.values()],
        error_y={"type": "data", "symmetric": False, "array": [r.ci_high - r.value for r in shown.values()],
                 "arrayminus": [r.value - r.ci_low for r in shown.values()]},
        text=[f"{r.value:.1%} ({r.numerator}/{r.denominator})" for r in shown.values()], textposition="outside"))
    missing = [f"{k}: {r.reason}" for k, r in rates.items() if r.value is None]
    fig.update_layout(title=title + (f" — not shown: {'; '.join(missing)}" if missing else ""),
                      yaxis_tickformat=".0%", yaxis_range=[0, 1.1])
    return fig


def alerts_chart(log: pd.DataFrame) -> go.Figure:
    """Alert deliveries over time (from :func:`analytics.alerts.read_alert_log`), one row per rule, coloured by
    kind; failed deliveries drawn hollow."""
    title = "Alerts sent"
    if log.empty:
        return _empty(title, "no alerts were sent in the period")
    colors = {"firing": "#d62728", "repeat": "#ff7f0e", "resolved": "#2ca02c"}
    fig = go.Figure()
    for kind, part in log.groupby("kind", sort=False):
        fig.add_trace(go.Scatter(
            x=part["sent_at"], y=part["rule"], mode="markers", name=str(kind),
            marker={"color": colors.get(str(kind), "#7f7f7f"), "size": 10,
                    "symbol": ["circle" if ok else "circle-open" for ok in part["ok"]]},
            customdata=part[["channel", "ok"]], hovertemplate="%{y} via %{customdata[0]} ok=%{customdata[1]}"))
    fig.update_layout(title=title, xaxis_title="sent at (UTC)")
    return fig
