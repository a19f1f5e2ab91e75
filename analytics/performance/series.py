"""Time series for the performance notebook: latency quantiles, client error rate and event counts per bucket.

All aggregation runs in SQL (``GROUP BY`` the hour or day; quantiles via the window query of
:mod:`analytics.performance.sql_latency`), so memory grows with the number of buckets, not of events.
Returned DataFrames carry ``bucket`` as tz-aware UTC.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, distinct, func, select

from analytics.performance.sql_latency import bucket_expression, event_latency
from analytics.performance.stats import wilson_rate
from analytics.schema import analytics_events as _ev

__all__ = ["error_rate_series", "event_count_series", "latency_series"]


def _utc(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="object"), format="%Y-%m-%d %H:%M:%S").dt.tz_localize("UTC")


def latency_series(engine: Engine, start: datetime, end: datetime, freq: str = "hour",
                   event_type: str = "page_load_timing", field: str = "load_time_ms") -> pd.DataFrame:
    """Per bucket: ``count``, ``p50``, ``p95``, ``p99`` (ms, Hyndman & Fan type 7) and the p95 interval bounds
    ``p95_low``/``p95_high`` (order-statistic interval; NaN when open). Buckets without events are absent."""
    with engine.connect() as conn:
        stats = event_latency(conn, (event_type,), field, start, end, group=bucket_expression(conn, freq))
    rows = [{"bucket": k, "count": s.count, "p50": s.p50.value, "p95": s.p95.value, "p99": s.p99.value,
             "p95_low": s.p95.ci_low, "p95_high": s.p95.ci_high} for k, s in sorted(stats.items())]
    df = pd.DataFrame(rows, columns=["bucket", "count", "p50", "p95", "p99", "p95_low", "p95_high"])
    df["bucket"] = _utc(df["bucket"])
    return df.astype({"count": "int64", "p50": "float64", "p95": "float64", "p99": "float64",
                      "p95_low": "float64", "p95_high": "float64"})


def error_rate_series(engine: Engine, start: datetime, end: datetime, freq: str = "hour") -> pd.DataFrame:
    """Per bucket: ``sessions`` with any event, ``error_sessions`` with a ``client_error``, ``rate`` and its
    Wilson 95 % interval ``ci_low``/``ci_high``."""
    with engine.connect() as conn:
        bucket = bucket_expression(conn, freq)
        rows = conn.execute(select(
            bucket.label("b"), func.count(distinct(_ev.c.session_id)),
            func.count(distinct(_ev.c.session_id)).filter(_ev.c.event_type == "client_error"),
        ).where(and_(_ev.c.timestamp >= start, _ev.c.timestamp < end)).group_by(bucket).order_by(bucket)).all()
    out = []
    for b, sessions, errors in rows:
        r = wilson_rate(int(errors), int(sessions))
        out.append({"bucket": b, "sessions": int(sessions), "error_sessions": int(errors), "rate": r.value,
                    "ci_low": r.ci_low, "ci_high": r.ci_high})
    df = pd.DataFrame(out, columns=["bucket", "sessions", "error_sessions", "rate", "ci_low", "ci_high"])
    df["bucket"] = _utc(df["bucket"])
    return df.astype({"sessions": "int64", "error_sessions": "int64", "rate": "float64", "ci_low": "float64",
                      "ci_high": "float64"})


def event_count_series(engine: Engine, start: datetime, end: datetime, event_types: tuple[str, ...],
                       freq: str = "day") -> pd.DataFrame:
    """Long table ``bucket, event_type, count`` of the given event types (e.g. email and payment events)."""
    with engine.connect() as conn:
        bucket = bucket_expression(conn, freq)
        rows = conn.execute(select(bucket.label("b"), _ev.c.event_type, func.count())
                            .where(and_(_ev.c.timestamp >= start, _ev.c.timestamp < end,
                                        _ev.c.event_type.in_(event_types)))
                            .group_by(bucket, _ev.c.event_type).order_by(bucket, _ev.c.event_type)).all()
    df = pd.DataFrame([tuple(r) for r in rows], columns=["bucket", "event_type", "count"])
    df["bucket"] = _utc(df["bucket"])
    return df.astype({"count": "int64"})
