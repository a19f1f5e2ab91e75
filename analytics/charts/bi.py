"""Plotly figures for the BI notebooks: retention heatmap, holdout check, segment LTV bars, cumulative curves."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.cohort_revenue import CohortRevenue
from analytics.cohorts import RetentionMatrix
from analytics.ltv.holdout import HoldoutCheck
from analytics.ltv.survival import SurvivalLTV

__all__ = ["cumulative_revenue_curves", "holdout_figure", "retention_heatmap", "segment_bars", "survival_curves"]


def retention_heatmap(
    result: RetentionMatrix, *, or_later: bool = False, title: str | None = None
) -> go.Figure:
    """Heatmap of retention rates (empty cells stay blank), cohort sizes in the row labels."""
    rates = result.rates_or_later if or_later else result.rates
    labels = [f"{d.date()} (n={n})" for d, n in zip(rates.index, result.sizes, strict=True)]
    fig = go.Figure(
        go.Heatmap(
            z=rates.to_numpy() * 100,
            x=[str(c) for c in rates.columns],
            y=labels,
            colorscale="Blues",
            hoverongaps=False,
            colorbar={"title": "%"},
            texttemplate="%{z:.1f}",
        )
    )
    fig.update_layout(
        title=title or f"Retention by {result.period} ({'k or later' if or_later else 'in period k'})",
        xaxis_title=f"{result.period}s since cohort",
        yaxis={"autorange": "reversed"},
    )
    return fig


def cumulative_revenue_curves(result: CohortRevenue, *, min_size: int = 1) -> go.Figure:
    """One line per cohort: cumulative revenue per user by periods since the cohort (observable periods only)."""
    curves = result.cumulative_revenue_per_user
    traces = [
        go.Scatter(x=list(curves.columns[row.notna()]), y=row.dropna().to_numpy(), mode="lines+markers",
                   name=f"{d.date()} (n={n})")
        for (d, row), n in zip(curves.iterrows(), result.sizes, strict=True)
        if n >= min_size
    ]
    fig = go.Figure(traces)
    fig.update_layout(
        title="Cumulative revenue per user by cohort",
        xaxis_title=f"{result.period}s since cohort",
        yaxis_title="revenue per user to date",
    )
    return fig


def holdout_figure(check: HoldoutCheck) -> go.Figure:
    """Mean holdout purchases by calibration frequency: actual vs BG/NBD prediction (FHL 2005, fig. 4)."""
    t = check.by_frequency
    fig = go.Figure(
        [
            go.Scatter(x=t.index, y=t["actual_mean"], name="actual", mode="lines+markers"),
            go.Scatter(
                x=t.index, y=t["predicted_mean"], name="BG/NBD", mode="lines+markers", line={"dash": "dash"}
            ),
        ]
    )
    fig.update_layout(
        title="Holdout purchases per customer",
        xaxis_title="purchases in calibration",
        yaxis_title="mean purchases in holdout",
    )
    return fig


def segment_bars(table: pd.DataFrame, value: str, low: str, high: str, title: str) -> go.Figure:
    """Bar chart of ``value`` by index with asymmetric error bars from ``low``/``high`` columns."""
    fig = go.Figure(
        go.Bar(
            x=[str(i) for i in table.index],
            y=table[value],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": table[high] - table[value],
                "arrayminus": table[value] - table[low],
            },
        )
    )
    fig.update_layout(title=title, yaxis_title=value.replace("_", " "))
    return fig


def survival_curves(results: dict[str, SurvivalLTV]) -> go.Figure:
    """Kaplan-Meier subscription retention S(k) per plan; the geometric extrapolation drawn dashed."""
    fig = go.Figure()
    for plan, res in results.items():
        t = res.retention
        observed = t[~t["extrapolated"]]
        tail = t.loc[t.index >= (observed.index.max() if len(observed) else 0)]
        fig.add_trace(go.Scatter(x=observed.index, y=observed["retention"], mode="lines+markers",
                                 name=f"{plan} (LTV {res.ltv:.0f}, {res.ci_low:.0f}-{res.ci_high:.0f})"))
        fig.add_trace(go.Scatter(x=tail.index, y=tail["retention"], mode="lines", line={"dash": "dot"},
                                 name=f"{plan}: extrapolated", showlegend=False))
    fig.update_layout(title="Subscription retention by plan (Kaplan-Meier)", xaxis_title="months since start",
                      yaxis_title="share still paying", yaxis={"range": [0, 1.02]})
    return fig
