"""Latency quantiles of event fields computed in SQL, with memory independent of the number of events.

Two queries per call, both pushed into the database (SQLite ≥ 3.25 and PostgreSQL): one ``GROUP BY`` for each
group's count, sum and max, then one window query (``row_number() OVER (PARTITION BY group ORDER BY value)``)
that returns only the order statistics each quantile and its interval need — at most nine rows per group —
see :mod:`analytics.performance.stats` for the estimators (Hyndman & Fan type 7; Conover's order-statistic
interval). The same code serves the whole window (one group) and time buckets or steps (many groups).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Integer, and_, func, literal, or_, select

from analytics.errors import InvalidParameterError
from analytics.performance.stats import (
    QUANTILES,
    LatencyStats,
    order_statistic_ranks,
    quantile_from_order_stats,
)
from analytics.schema import analytics_events as _ev

__all__ = ["bucket_expression", "event_latency"]

_BUCKETS = {"hour": ("hour", "%Y-%m-%d %H:00:00"), "day": ("day", "%Y-%m-%d 00:00:00")}


def bucket_expression(conn: Connection, freq: str) -> ColumnElement:
    """``timestamp`` truncated to ``freq`` (``hour``/``day``) as ``YYYY-MM-DD HH:MM:SS`` text."""
    if freq not in _BUCKETS:
        raise InvalidParameterError("freq", f"'freq' must be one of 'hour', 'day' (got freq={freq!r})")
    unit, fmt = _BUCKETS[freq]
    if conn.dialect.name == "postgresql":
        return func.to_char(func.date_trunc(unit, _ev.c.timestamp), "YYYY-MM-DD HH24:MI:SS")
    return func.strftime(fmt, _ev.c.timestamp)


def event_latency(conn: Connection, event_types: tuple[str, ...], field: str, start: datetime, end: datetime,
                  group: ColumnElement | None = None, where: ColumnElement | None = None,
                  confidence: float = 0.95) -> dict[Hashable, LatencyStats]:
    """Per-group :class:`LatencyStats` of the numeric ``event_data[field]`` of events in ``[start, end)``.

    Parameters
    ----------
    conn:
        An open connection.
    event_types:
        The event types whose field is measured.
    field:
        The ``event_data`` key holding the duration in ms (events without a number there are left out).
    start, end:
        Naive UTC window, half-open.
    group:
        A SQL expression to group by (``None``: one group keyed ``None``).
    where:
        An extra filter.

    Returns
    -------
    dict
        Group key → stats; groups without events are absent.
    """
    value = _ev.c.event_data[field].as_float()
    key = group if group is not None else literal(0, type_=Integer)
    cond = and_(_ev.c.event_type.in_(event_types), _ev.c.timestamp >= start, _ev.c.timestamp < end,
                value.is_not(None))
    if where is not None:
        cond = and_(cond, where)
    totals_q = select(key.label("g"), func.count().label("n"), func.sum(value).label("total"),
                      func.max(value).label("top")).where(cond)
    totals = conn.execute(totals_q.group_by(key) if group is not None else totals_q).all()
    totals = [t for t in totals if t[1]]
    if not totals:
        return {}
    ranks: dict[Hashable, set[int]] = {}
    for g, n, _, _ in totals:
        wanted: set[int] = set()
        for _, pm in QUANTILES:
            wanted.update(r for r in order_statistic_ranks(n, pm, confidence) if 1 <= r <= n)
        ranks[g] = wanted
    row_number = func.row_number().over(partition_by=group, order_by=value).label("rn")
    ranked = select(key.label("g"), value.label("v"), row_number).where(cond).subquery()
    picks = or_(*(and_(ranked.c.g == g, ranked.c.rn.in_(sorted(rs))) for g, rs in ranks.items()))
    order_stats: dict[Hashable, dict[int, float]] = {g: {} for g in ranks}
    for g, v, rn in conn.execute(select(ranked.c.g, ranked.c.v, ranked.c.rn).where(picks)):
        order_stats[g][int(rn)] = float(v)
    out: dict[Hashable, LatencyStats] = {}
    for g, n, total, top in totals:
        qs = {name: quantile_from_order_stats(n, pm, order_stats[g], confidence) for name, pm in QUANTILES}
        out[None if group is None else g] = LatencyStats(
            int(n), float(total) / n, float(top), qs["p50"], qs["p95"], qs["p99"], confidence)
    return out
