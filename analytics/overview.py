"""The overview: events per day by type and sessions by traffic source, aggregated in the database."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from sqlalchemy import Engine, func, select

from analytics.period import Period, day_bucket, resolve_period
from analytics.schema import analytics_events

__all__ = [
    "Period",
    "events_per_day",
    "events_per_day_figure",
    "resolve_period",
    "sessions_by_source",
    "sessions_by_source_figure",
]


def events_per_day(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Count of events per UTC day and event type in ``[start, end)``: columns ``day, event_type, events``."""
    ev = analytics_events
    day = day_bucket(ev.c.timestamp, engine.dialect.name).label("day")
    stmt = (
        select(day, ev.c.event_type, func.count().label("events"))
        .where(ev.c.timestamp >= start, ev.c.timestamp < end)
        .group_by(day, ev.c.event_type)
        .order_by(day, ev.c.event_type)
    )
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt).all(), columns=["day", "event_type", "events"])
    df["day"] = pd.to_datetime(df["day"])
    df["events"] = df["events"].astype("int64")
    return df


def sessions_by_source(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Sessions opened in ``[start, end)`` by source and medium, most first: ``source, medium, sessions, share``."""
    ev = analytics_events
    src = func.coalesce(ev.c.source, "(unknown)").label("source")
    med = func.coalesce(ev.c.medium, "(unknown)").label("medium")
    stmt = (
        select(src, med, func.count(func.distinct(ev.c.session_id)).label("sessions"))
        .where(ev.c.event_type == "ai_calculator_opened", ev.c.timestamp >= start, ev.c.timestamp < end)
        .group_by(src, med)
    )
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt).all(), columns=["source", "medium", "sessions"])
    df["sessions"] = df["sessions"].astype("int64")
    total = df["sessions"].sum()
    df["share"] = df["sessions"] / total if total else 0.0
    return df.sort_values(["sessions", "source", "medium"], ascending=[False, True, True]).reset_index(drop=True)


def events_per_day_figure(daily: pd.DataFrame) -> go.Figure:
    """Line chart of :func:`events_per_day` (log scale: counts span orders of magnitude)."""
    fig = px.line(daily, x="day", y="events", color="event_type", log_y=True, title="Events per day by type")
    fig.update_layout(legend_title_text="event type", yaxis_title="events (log scale)")
    return fig


def sessions_by_source_figure(by_source: pd.DataFrame) -> go.Figure:
    """Horizontal bars of :func:`sessions_by_source`."""
    df = by_source.assign(label=by_source["source"] + " / " + by_source["medium"])
    fig = px.bar(df.iloc[::-1], x="sessions", y="label", orientation="h", title="Sessions by source / medium")
    fig.update_layout(yaxis_title="", xaxis_title="sessions")
    return fig
