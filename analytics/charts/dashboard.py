"""Plotly figures for the dashboard: funnel, drop-off, conversion with error bars, attribution, content, map."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "ISO2_TO_ISO3",
    "attribution_chart",
    "conversion_chart",
    "dropoff_chart",
    "funnel_chart",
    "geography_map",
    "popular_content_chart",
]

#: ISO 3166-1 alpha-2 → alpha-3 for the countries the calculator sees (plotly maps want alpha-3).
ISO2_TO_ISO3 = {
    "US": "USA",
    "GB": "GBR",
    "CA": "CAN",
    "IN": "IND",
    "DE": "DEU",
    "AU": "AUS",
    "FR": "FRA",
    "BR": "BRA",
    "NG": "NGA",
    "JP": "JPN",
    "ES": "ESP",
    "IT": "ITA",
    "NL": "NLD",
    "MX": "MEX",
    "IE": "IRL",
    "SE": "SWE",
    "PL": "POL",
    "ZA": "ZAF",
    "SG": "SGP",
    "NZ": "NZL",
    "CN": "CHN",
    "KR": "KOR",
    "PH": "PHL",
    "PK": "PAK",
}
RISK_COLOURS = {"low": "#2ca02c", "medium": "#ff7f0e", "high": "#d62728"}


def _blocks(table: pd.DataFrame):
    if "breakdown" in table.columns:
        for value, block in table.groupby("breakdown", sort=False):
            yield (value or "(none)"), block
    else:
        yield "all", table


def funnel_chart(table: pd.DataFrame, title: str = "Calculator funnel") -> go.Figure:
    """A funnel per breakdown value: people reaching each step (``FunnelResult.table``)."""
    fig = go.Figure()
    for name, block in _blocks(table):
        fig.add_trace(
            go.Funnel(
                name=str(name), y=block["step_name"], x=block["count"], textinfo="value+percent initial"
            )
        )
    return fig.update_layout(title=title)


def dropoff_chart(table: pd.DataFrame, title: str = "Drop-off from the previous step") -> go.Figure:
    """Bars of the drop-off rate at each step after the first, one colour per breakdown value."""
    fig = go.Figure()
    for name, block in _blocks(table):
        b = block[block["step"] > 0]
        fig.add_trace(go.Bar(name=str(name), x=b["step_name"], y=b["drop_off_rate"]))
    return fig.update_layout(
        title=title, barmode="group", yaxis_tickformat=".0%", yaxis_title="drop-off rate"
    )


def conversion_chart(table: pd.DataFrame, by: str, title: str | None = None) -> go.Figure:
    """Conversion rate per value of ``by`` with its Wilson interval as asymmetric error bars."""
    fig = go.Figure(
        go.Bar(
            x=table[by].astype(str),
            y=table["conversion_rate"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": table["ci_high"] - table["conversion_rate"],
                "arrayminus": table["conversion_rate"] - table["ci_low"],
            },
            text=[f"{k}/{n}" for k, n in zip(table["converted"], table["assessed"], strict=True)],
            marker_color=[RISK_COLOURS.get(str(v), "#1f77b4") for v in table[by]],
        )
    )
    return fig.update_layout(
        title=title or f"Assessment → paid conversion by {by} (95 % Wilson interval)",
        yaxis_tickformat=".1%",
        yaxis_title="conversion rate",
    )


def attribution_chart(
    table: pd.DataFrame, title: str = "Revenue by channel under each attribution model"
) -> go.Figure:
    """Grouped bars: one group per channel, one bar per model."""
    models = [
        c
        for c in ("first_touch", "last_touch", "linear", "position_based", "time_decay", "markov")
        if c in table
    ]
    fig = go.Figure([go.Bar(name=m.replace("_", " "), x=table["channel"], y=table[m]) for m in models])
    return fig.update_layout(title=title, barmode="group", yaxis_title="revenue")


def popular_content_chart(table: pd.DataFrame, title: str = "Most assessed, by risk level") -> go.Figure:
    """Horizontal stacked bars: assessments per value split by risk-level share."""
    t = table.iloc[::-1]
    fig = go.Figure(
        [
            go.Bar(name=r, y=t["value"], x=t["assessments"] * t[r], orientation="h", marker_color=c)
            for r, c in RISK_COLOURS.items()
        ]
    )
    return fig.update_layout(title=title, barmode="stack", xaxis_title="assessments")


def geography_map(table: pd.DataFrame, value: str = "assessed", title: str | None = None) -> go.Figure:
    """World choropleth of ``value`` (``assessed`` or ``conversion_rate``) by country."""
    t = table[table["country"].isin(ISO2_TO_ISO3)]
    fig = go.Figure(
        go.Choropleth(
            locations=t["country"].map(ISO2_TO_ISO3),
            z=t[value],
            text=t["country"],
            colorscale="Blues",
            colorbar_title=value.replace("_", " "),
        )
    )
    return fig.update_layout(title=title or f"{value.replace('_', ' ').capitalize()} by country")
