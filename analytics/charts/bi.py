"""Plotly figures for the BI notebooks: retention heatmap, holdout check, segment LTV bars, cumulative curves."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.cohorts import RetentionMatrix
from analytics.ltv.holdout import HoldoutCheck

__all__ = ["holdout_figure", "retention_heatmap", "segment_bars"]


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
