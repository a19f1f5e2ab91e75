"""Cohort retention matrices (rules 12-14 of ``docs``' analytics semantics, following PostHog's retention).

Periods are UTC days, weeks (starting Sunday by default, Monday configurable) or calendar months. The first
period contains ``start_date`` and the last period, the one containing ``end_date``, is included in full.

* **Recurring** cohorts (default): cohort *i* is the people with a target event in period *i*.
* **First-time** cohorts: people whose first target event *ever* (all history, not only the query range) falls
  in period *i*; people whose first target event predates the range belong to no cohort.

Cell ``(i, 0)`` is the cohort size; cell ``(i, k)`` counts cohort members with a returning event in period
``i + k`` ("returned in period k"); the unbounded form counts members with a returning event in period
``i + k`` *or any later* period ("k or later"). Returning events in the cohort's own period never count for
later cells. Cells of periods after the last period are missing (NaN), not zero, so the matrix is a triangle.

The person of an event follows :mod:`analytics.identity`. The same function runs on a DataFrame of events or
in the database (:func:`analytics.cohort_sql.retention_counts`: one statement, one pass over the needed event
types, persons resolved once; SQLAlchemy Core, SQLite and PostgreSQL); both give identical results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from analytics.cohort_sql import period_index_sql, retention_counts
from analytics.errors import InvalidParameterError
from analytics.identity import resolve_persons
from analytics.storage import check_period

__all__ = ["RetentionMatrix", "period_index_sql", "period_starts", "retention_matrix"]

_PERIODS = ("day", "week", "month")
_WEEK_STARTS = ("sunday", "monday")
_COHORT_TYPES = ("recurring", "first_time")


@dataclass(frozen=True)
class RetentionMatrix:
    """A cohort retention matrix.

    Attributes
    ----------
    counts:
        Rows: cohort period start (naive UTC midnight); columns ``0..n-1``; ``(i, 0)`` the cohort size,
        ``(i, k)`` members returning in period ``i + k``; NaN where the period lies after the last one.
    counts_or_later:
        Same with "returned in period ``i + k`` or later" (column 0 is the size).
    rates, rates_or_later:
        The counts divided by the cohort size (NaN for empty cohorts, whose reason is in ``notes``).
    sizes:
        Cohort sizes.
    period, week_start, cohort_type, target_events, returning_events:
        The query.
    notes:
        Explanations of missing values (empty cohorts).
    """

    counts: pd.DataFrame
    counts_or_later: pd.DataFrame
    rates: pd.DataFrame
    rates_or_later: pd.DataFrame
    sizes: pd.Series
    period: str
    week_start: str
    cohort_type: str
    target_events: tuple[str, ...]
    returning_events: tuple[str, ...]
    notes: tuple[str, ...] = ()


def _period_floor(ts: dt.datetime, period: str, week_start: str) -> dt.datetime:
    day = dt.datetime(ts.year, ts.month, ts.day)
    if period == "day":
        return day
    if period == "week":
        back = (day.weekday() + 1) % 7 if week_start == "sunday" else day.weekday()
        return day - dt.timedelta(days=back)
    return dt.datetime(ts.year, ts.month, 1)


def _add_periods(start: dt.datetime, k: int, period: str) -> dt.datetime:
    if period == "day":
        return start + dt.timedelta(days=k)
    if period == "week":
        return start + dt.timedelta(days=7 * k)
    m = start.month - 1 + k
    return dt.datetime(start.year + m // 12, m % 12 + 1, 1)


def period_starts(
    start_date: Any, end_date: Any, period: str = "week", week_start: str = "sunday"
) -> list[dt.datetime]:
    """Start of each period from the one containing ``start_date`` to the one containing ``end_date``."""
    _check_choice("period", period, _PERIODS)
    _check_choice("week_start", week_start, _WEEK_STARTS)
    s, e = check_period(start_date, end_date)
    first, last = _period_floor(s, period, week_start), _period_floor(e, period, week_start)
    out = [first]
    while out[-1] < last:
        out.append(_add_periods(first, len(out), period))
    return out


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise InvalidParameterError(name, f"'{name}' must be one of {list(choices)} (got {value!r})")


def _events_tuple(name: str, value: str | Sequence[str]) -> tuple[str, ...]:
    events = (value,) if isinstance(value, str) else tuple(value)
    if not events or not all(isinstance(v, str) and v for v in events):
        raise InvalidParameterError(
            name, f"'{name}' must be an event type or a non-empty list of them (got {value!r})"
        )
    return events


def _index_frame(ts: pd.Series, origin: dt.datetime, period: str) -> np.ndarray:
    """Period index of each (naive UTC) timestamp relative to ``origin`` (a period start)."""
    if period == "month":
        return ((ts.dt.year - origin.year) * 12 + ts.dt.month - origin.month).to_numpy()
    days = (ts - pd.Timestamp(origin)) // pd.Timedelta(days=1)
    return (days // (7 if period == "week" else 1)).to_numpy()


def _frame_activity(
    events: pd.DataFrame,
    types: tuple[str, ...],
    origin: dt.datetime,
    end_excl: dt.datetime,
    period: str,
    first: bool,
) -> pd.DataFrame:
    """Distinct (person, k) of the events in [origin, end_excl); with ``first`` only each person's first."""
    ev = events[events["event_type"].isin(types)]
    ts = pd.to_datetime(ev["timestamp"])
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    frame = pd.DataFrame({"person": ev["person_id"].to_numpy(), "ts": ts.to_numpy()})
    if first:
        frame = frame.groupby("person", as_index=False)["ts"].min()
    frame = frame[(frame["ts"] >= pd.Timestamp(origin)) & (frame["ts"] < pd.Timestamp(end_excl))]
    out = pd.DataFrame({"person": frame["person"].to_numpy(), "k": _index_frame(frame["ts"], origin, period)})
    return out.drop_duplicates()


def _matrices(
    sizes: pd.Series, exact: pd.DataFrame, last: pd.DataFrame, n: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build both count matrices from sizes, (cohort, k, n) exact counts and (cohort, last_k, n) counts."""
    counts = np.full((n, n), np.nan)
    later = np.full((n, n), np.nan)
    for i in range(n):
        counts[i, : n - i] = 0.0
        later[i, : n - i] = 0.0
    counts[:, 0] = later[:, 0] = sizes.reindex(range(n), fill_value=0).to_numpy()
    for i, k, c in exact[["cohort", "k", "n"]].itertuples(index=False):
        counts[int(i), int(k) - int(i)] = c
    for i, k, c in last[["cohort", "k", "n"]].itertuples(index=False):
        later[int(i), 1 : int(k) - int(i) + 1] += c  # returned at k or later for every offset up to its last
    return counts, later


def retention_matrix(
    source: pd.DataFrame | Engine | Connection,
    *,
    start_date: Any,
    end_date: Any,
    period: str = "week",
    week_start: str = "sunday",
    cohort_type: str = "recurring",
    target_event: str | Sequence[str] = "ai_calculator_opened",
    returning_event: str | Sequence[str] | None = None,
) -> RetentionMatrix:
    """Cohort retention matrix (semantics in the module docstring).

    Parameters
    ----------
    source:
        A DataFrame of events (``event_type``, ``timestamp`` and ``person_id`` — or ``session_id`` and
        ``user_id`` to resolve it; for first-time cohorts it must hold all history) or a database engine /
        connection (the computation then runs in SQL).
    start_date, end_date:
        Dates or ISO strings (UTC); the periods containing them are the first and last.
    period, week_start, cohort_type:
        ``"day"``/``"week"``/``"month"``; ``"sunday"``/``"monday"``; ``"recurring"``/``"first_time"``.
    target_event, returning_event:
        Event type(s) defining cohort membership and returning; ``returning_event`` defaults to the target.
    """
    _check_choice("cohort_type", cohort_type, _COHORT_TYPES)
    starts = period_starts(start_date, end_date, period, week_start)
    targets = _events_tuple("target_event", target_event)
    returning = targets if returning_event is None else _events_tuple("returning_event", returning_event)
    origin, n = starts[0], len(starts)
    end_excl = _add_periods(origin, n, period)
    first = cohort_type == "first_time"
    if isinstance(source, pd.DataFrame):
        sizes, exact, last = _compute_frame(source, targets, returning, origin, end_excl, period, first)
    elif isinstance(source, Engine | Connection):
        if isinstance(source, Engine):
            with source.connect() as conn:
                sizes, exact, last = retention_counts(conn, targets, returning, origin, end_excl, period, first)
        else:
            sizes, exact, last = retention_counts(source, targets, returning, origin, end_excl, period, first)
    else:
        raise InvalidParameterError(
            "source", f"'source' must be a DataFrame, Engine or Connection (got {type(source).__name__})"
        )
    counts, later = _matrices(sizes, exact, last, n)
    index = pd.DatetimeIndex(starts, name="cohort")
    cols = pd.RangeIndex(n, name="period")
    size_arr = counts[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(size_arr[:, None] > 0, counts / size_arr[:, None], np.nan)
        rates_later = np.where(size_arr[:, None] > 0, later / size_arr[:, None], np.nan)
    notes = tuple(
        f"cohort {s.date()} is empty: its rates are undefined"
        for s, v in zip(starts, size_arr, strict=True)
        if v == 0
    )
    return RetentionMatrix(
        counts=pd.DataFrame(counts, index=index, columns=cols),
        counts_or_later=pd.DataFrame(later, index=index, columns=cols),
        rates=pd.DataFrame(rates, index=index, columns=cols),
        rates_or_later=pd.DataFrame(rates_later, index=index, columns=cols),
        sizes=pd.Series(size_arr.astype(int), index=index, name="cohort_size"),
        period=period,
        week_start=week_start,
        cohort_type=cohort_type,
        target_events=targets,
        returning_events=returning,
        notes=notes,
    )


def _pair_counts(cohort: pd.DataFrame, ret: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    sizes = cohort.groupby("k").size()
    pairs = cohort.merge(ret, on="person", suffixes=("_c", "_r"))
    pairs = pairs[pairs["k_r"] > pairs["k_c"]]
    exact = (
        pairs.groupby(["k_c", "k_r"])
        .size()
        .reset_index(name="n")
        .rename(columns={"k_c": "cohort", "k_r": "k"})
    )
    last_k = pairs.groupby(["person", "k_c"])["k_r"].max().reset_index()
    last = (
        last_k.groupby(["k_c", "k_r"])
        .size()
        .reset_index(name="n")
        .rename(columns={"k_c": "cohort", "k_r": "k"})
    )
    return sizes, exact, last


def _compute_frame(
    events: pd.DataFrame,
    targets: tuple[str, ...],
    returning: tuple[str, ...],
    origin: dt.datetime,
    end_excl: dt.datetime,
    period: str,
    first: bool,
) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    missing = [c for c in ("event_type", "timestamp") if c not in events.columns]
    if "person_id" not in events.columns and not {"session_id", "user_id"} <= set(events.columns):
        missing.append("person_id (or session_id and user_id)")
    if missing:
        raise InvalidParameterError(
            "source", f"'source' DataFrame must have columns {missing} (got {list(events.columns)})"
        )
    if "person_id" not in events.columns:
        events = events.assign(person_id=resolve_persons(events))
    cohort = _frame_activity(events, targets, origin, end_excl, period, first)
    ret = _frame_activity(events, returning, origin, end_excl, period, False)
    return _pair_counts(cohort, ret)
