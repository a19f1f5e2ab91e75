"""``funnel()``: one entry point for DataFrames and database sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from analytics.errors import InvalidParameterError
from analytics.funnel._frame import frame_outcomes
from analytics.funnel._result import FunnelResult, build_result
from analytics.funnel._spec import DEFAULT_WINDOW, build_spec

__all__ = ["funnel"]


def funnel(
    events: pd.DataFrame | Engine | Connection | str,
    steps: Sequence[Any],
    *,
    window: Any = DEFAULT_WINDOW,
    order: str = "ordered",
    exclusions: Sequence[Any] = (),
    breakdown: str | None = None,
    start_date: Any = None,
    end_date: Any = None,
    confidence: float = 0.95,
) -> FunnelResult:
    """Conversion funnel with PostHog's semantics (``analytics-semantics.md`` rules 1–11).

    Parameters
    ----------
    events:
        A DataFrame with columns ``person_id, event, timestamp, properties`` (properties: dicts; naive times are
        UTC), or a database source (engine, connection or URL) read from ``analytics_events`` with the
        foundation's identity resolution (rule 11); the database path aggregates in SQL and gives the same
        numbers as the DataFrame path.
    steps:
        Event names or ``(event name, {property: value})`` pairs, at least one.
    window:
        Conversion window from the entry event, inclusive edge (``timedelta`` or seconds; default 14 days).
    order:
        ``"ordered"`` (later steps strictly later, other events allowed between), ``"strict"`` (each step is the
        person's very next event) or ``"unordered"``.
    exclusions:
        ``(event or (event, filter), from_step, to_step)`` triples; an attempt with the event strictly between
        its from- and to-step is discarded (rule 8).
    breakdown:
        A property name; the value on the entry event of each person's best attempt (missing → ``""``).
    start_date, end_date:
        The query period ``[start, end)`` (UTC); required for a database source, optional for a DataFrame. Every
        event considered — entry and later steps — lies in the period.
    confidence:
        Level of the Wilson intervals on conversion from the first step.

    Returns
    -------
    FunnelResult
        ``.table`` (one block per breakdown value) and ``.people(step, dropped=...)``.

    Notes
    -----
    Each person's result is the best attempt (most steps, then earliest entry). The work is a single
    ``GROUP BY person`` aggregate (first/last time per step) that is provably exact for most people (see
    :mod:`analytics.funnel._fast`); only the others are evaluated event by event. For a database source the
    whole fast pass and the per-step totals run in SQL (:mod:`analytics.funnel._sql`); ``.people()`` recomputes
    the per-person outcomes in the database on first use.
    """
    spec = build_spec(steps, window=window, order=order, exclusions=exclusions, breakdown=breakdown)
    if not 0 < confidence < 1:
        raise InvalidParameterError("confidence", f"'confidence' must be in (0, 1) (got {confidence!r})")
    if isinstance(events, pd.DataFrame):
        if start_date is not None or end_date is not None:
            events = _clip(events, start_date, end_date)
        return build_result(frame_outcomes(events, spec), spec, confidence=confidence)
    from analytics.funnel._sql import sql_outcomes, sql_totals

    if start_date is None or end_date is None:
        raise InvalidParameterError(
            "start_date",
            f"a database source needs 'start_date' and 'end_date' (got {start_date!r}, {end_date!r})",
        )
    totals = sql_totals(events, spec, start_date, end_date)
    source = events

    def load():
        return sql_outcomes(source, spec, start_date, end_date)

    return build_result(totals, spec, confidence=confidence, loader=load)


def _clip(events: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    from analytics.storage import check_period, to_naive_utc

    if start is not None and end is not None:
        start, end = check_period(start, end)
    ts = pd.to_datetime(events["timestamp"], utc=True)
    keep = pd.Series(True, index=events.index)
    if start is not None:
        keep &= ts >= pd.Timestamp(to_naive_utc(start, "start_date"), tz="UTC")
    if end is not None:
        keep &= ts < pd.Timestamp(to_naive_utc(end, "end_date"), tz="UTC")
    return events[keep]
