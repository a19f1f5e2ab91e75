"""Conversion and revenue by cohort, and cumulative revenue per user curves.

Cohorts are first-time cohorts (:mod:`analytics.cohorts`): a person belongs to the period of their first
target event ever (default ``ai_calculator_opened``); people first seen before the range belong to none. Revenue
is the architecture's (``amount`` of ``payment_succeeded`` and ``subscription_renewed``), counted from the
start of the cohort period (period offset 0 includes a purchase in the first visit's period) to the end of the
range. For cohort *i* and offset *j* (period ``i + j``):

* ``revenue[i, j]``: the members' revenue in that period; ``cumulative_revenue_per_user[i, j]`` the sum over
  offsets ``0..j`` divided by the cohort size (the cumulative revenue per user curve);
* ``paying[i, j]``: members with a revenue event in that period;
* ``converted[i, j]``: members whose first payment came at an offset ``<= j`` (cumulative conversion).

Offsets after the last period are NaN. ``summary`` gives each cohort's size, conversion to date with Wilson's
score interval (Wilson 1927) and revenue per user to date with a normal-approximation interval
``mean ± z s / sqrt(n)`` from the per-member revenue (central limit theorem; with few payers in a small cohort
the interval is only indicative — the cohort's ``note`` says so when fewer than 10 members paid).

A DataFrame of events and a database give identical results; in the database one statement runs over
:func:`analytics.cohort_sql.person_periods` (one pass over the target and revenue events).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import Float, case, func, literal, literal_column, select, union_all
from sqlalchemy.engine import Connection, Engine
from statsmodels.stats.proportion import proportion_confint

from analytics.cohort_sql import person_periods, pg_settings
from analytics.cohorts import _add_periods, _check_choice, _events_tuple, _index_frame, period_starts
from analytics.errors import InvalidParameterError
from analytics.identity import resolve_persons
from analytics.ltv.queries import REVENUE_EVENTS, amount_expr, connect

__all__ = ["CohortRevenue", "cohort_revenue"]


@dataclass(frozen=True)
class CohortRevenue:
    """Result of :func:`cohort_revenue` (cohort x offset matrices indexed like a retention matrix)."""

    sizes: pd.Series
    revenue: pd.DataFrame
    cumulative_revenue_per_user: pd.DataFrame
    paying: pd.DataFrame
    converted: pd.DataFrame
    conversion_rate: pd.DataFrame
    summary: pd.DataFrame
    period: str
    target_events: tuple[str, ...]
    level: float


def _sql_rows(conn: Connection, targets: tuple[str, ...], origin: dt.datetime, end_excl: dt.datetime,
              period: str) -> pd.DataFrame:
    pk = person_periods(
        conn, flags={"t": targets, "p": REVENUE_EVENTS}, sums={"rev": (REVENUE_EVENTS, amount_expr())},
        origin=origin, end_excl=end_excl, period=period, history=True,
    )
    f = func.min(case((pk.c.t == 1, pk.c.k))).over(partition_by=pk.c.person).label("f")
    pw = select(pk.c.person, pk.c.k, pk.c.p, pk.c.rev, f).cte("pw")
    member = (pw.c.f >= 0) & (pw.c.k >= pw.c.f)
    per_period = select(
        literal_column("'period'").label("kind"), pw.c.f.label("cohort"), pw.c.k.label("k"),
        func.sum(pw.c.p).label("n"), func.sum(pw.c.rev).label("s1"), literal(0.0, Float).label("s2"),
    ).where(member, pw.c.p == 1).group_by(pw.c.f, pw.c.k)
    person = select(
        pw.c.f, func.coalesce(func.min(case((pw.c.p == 1, pw.c.k))), -1).label("fp"),
        func.sum(pw.c.rev).label("tot"),
    ).where(member).group_by(pw.c.person, pw.c.f).subquery("pp")
    per_person = select(
        literal_column("'person'"), person.c.f, person.c.fp, func.count(), func.sum(person.c.tot),
        func.sum(person.c.tot * person.c.tot),
    ).group_by(person.c.f, person.c.fp)
    with pg_settings(conn, {"jit": "off", "work_mem": "128MB"}):
        rows = conn.execute(union_all(per_period, per_person)).all()
    out = pd.DataFrame(rows, columns=["kind", "cohort", "k", "n", "s1", "s2"])
    return out.astype({"cohort": "int64", "k": "int64", "n": "int64", "s1": float, "s2": float})


def _frame_rows(events: pd.DataFrame, targets: tuple[str, ...], origin: dt.datetime, end_excl: dt.datetime,
                period: str) -> pd.DataFrame:
    if "person_id" not in events.columns:
        events = events.assign(person_id=resolve_persons(events))
    ev = events[events["event_type"].isin((*targets, *REVENUE_EVENTS))]
    ts = pd.to_datetime(ev["timestamp"])
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    if "amount" in ev.columns:
        amount = pd.to_numeric(ev["amount"], errors="coerce")
    else:
        amount = ev["event_data"].map(lambda d: d.get("amount") if isinstance(d, dict) else None).astype(float)
    keep = (ts < pd.Timestamp(end_excl)).to_numpy()
    ts, ev, amount = ts[keep], ev[keep], amount[keep]
    k = np.where(ts < pd.Timestamp(origin), -1, _index_frame(ts.clip(lower=pd.Timestamp(origin)), origin, period))
    frame = pd.DataFrame({"person": ev["person_id"].to_numpy(), "k": k, "type": ev["event_type"].to_numpy(),
                          "amount": amount.fillna(0.0).to_numpy()})
    first = frame[frame["type"].isin(targets)].groupby("person")["k"].min().rename("f")
    first = first[first >= 0]
    rev = frame[frame["type"].isin(REVENUE_EVENTS)].join(first, on="person", how="inner")
    rev = rev[rev["k"] >= rev["f"]]
    pk = rev.groupby(["person", "f", "k"], as_index=False)["amount"].sum()
    per_period = pk.groupby(["f", "k"]).agg(n=("person", "size"), s1=("amount", "sum")).reset_index()
    per_period = per_period.assign(kind="period", s2=0.0).rename(columns={"f": "cohort"})
    pp = pk.groupby(["person", "f"]).agg(fp=("k", "min"), tot=("amount", "sum"))
    pp = pp.reindex(pd.MultiIndex.from_arrays([first.index, first.to_numpy()], names=["person", "f"]))
    pp = pp.fillna({"fp": -1, "tot": 0.0}).reset_index()
    pp["tot2"] = pp["tot"] ** 2
    per_person = pp.groupby(["f", "fp"]).agg(n=("person", "size"), s1=("tot", "sum"), s2=("tot2", "sum"))
    per_person = per_person.reset_index().assign(kind="person").rename(columns={"f": "cohort", "fp": "k"})
    cols = ["kind", "cohort", "k", "n", "s1", "s2"]
    out = pd.concat([per_period[cols], per_person[cols]], ignore_index=True)
    return out.astype({"cohort": "int64", "k": "int64", "n": "int64", "s1": float, "s2": float})


def _triangle(n: int) -> np.ndarray:
    m = np.full((n, n), np.nan)
    for i in range(n):
        m[i, : n - i] = 0.0
    return m


def _summary(sizes: np.ndarray, conv: np.ndarray, s1: np.ndarray, s2: np.ndarray, level: float) -> pd.DataFrame:
    z = stats.norm.ppf((1 + level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = proportion_confint(conv, np.maximum(sizes, 1), alpha=1 - level, method="wilson")
        mean = np.where(sizes > 0, s1 / sizes, np.nan)
        var = np.where(sizes > 1, (s2 - sizes * mean**2) / (sizes - 1), np.nan)
        half = z * np.sqrt(np.maximum(var, 0.0) / sizes)
    notes = np.where(sizes == 0, "empty cohort: rates undefined",
                     np.where(conv < 10, "fewer than 10 payers: the revenue interval is only indicative", ""))
    return pd.DataFrame({
        "size": sizes.astype("int64"), "converted": conv.astype("int64"),
        "conversion_rate": np.where(sizes > 0, conv / np.maximum(sizes, 1), np.nan),
        "conversion_low": np.where(sizes > 0, lo, np.nan), "conversion_high": np.where(sizes > 0, hi, np.nan),
        "revenue": s1, "revenue_per_user": mean, "revenue_per_user_low": mean - half,
        "revenue_per_user_high": mean + half, "note": notes,
    })


def cohort_revenue(
    source: pd.DataFrame | Engine | Connection,
    *,
    start_date: Any,
    end_date: Any,
    period: str = "week",
    week_start: str = "sunday",
    target_event: str | tuple[str, ...] = "ai_calculator_opened",
    level: float = 0.95,
) -> CohortRevenue:
    """Conversion and revenue by first-time cohort (definitions in the module docstring).

    Parameters
    ----------
    source:
        Events as a DataFrame (``event_type``, ``timestamp``, ``person_id`` or ``session_id``/``user_id``, and
        ``amount`` or ``event_data`` dicts; all history for the first-time rule) or an engine / connection.
    start_date, end_date, period, week_start:
        As in :func:`analytics.cohorts.retention_matrix`.
    target_event:
        Event type(s) whose first occurrence defines the cohort.
    level:
        Confidence level of the intervals.
    """
    if not 0 < level < 1:
        raise InvalidParameterError("level", f"'level' must be between 0 and 1 (got {level!r})")
    _check_choice("period", period, ("day", "week", "month"))
    starts = period_starts(start_date, end_date, period, week_start)
    targets = _events_tuple("target_event", target_event)
    origin, n = starts[0], len(starts)
    end_excl = _add_periods(origin, n, period)
    if isinstance(source, pd.DataFrame):
        rows = _frame_rows(source, targets, origin, end_excl, period)
    else:
        with connect(source) as conn:
            rows = _sql_rows(conn, targets, origin, end_excl, period)
    revenue, paying, first_pay = _triangle(n), _triangle(n), _triangle(n)
    sizes, conv, s1, s2 = (np.zeros(n) for _ in range(4))
    for kind, i, k, cnt, a, b in rows.itertuples(index=False):
        if kind == "period":
            revenue[i, k - i] += a
            paying[i, k - i] += cnt
        else:
            sizes[i] += cnt
            s1[i] += a
            s2[i] += b
            if k >= 0:
                conv[i] += cnt
                first_pay[i, k - i] += cnt
    converted = np.cumsum(np.nan_to_num(first_pay), axis=1) + first_pay * 0  # keeps the NaN triangle
    with np.errstate(divide="ignore", invalid="ignore"):
        per_user = np.cumsum(np.nan_to_num(revenue), axis=1) / sizes[:, None] + revenue * 0
        per_user[sizes == 0] = np.nan
        rate = converted / sizes[:, None]
    index = pd.DatetimeIndex(starts, name="cohort")
    cols = pd.RangeIndex(n, name="period")

    def frame(m: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(m, index=index, columns=cols)

    summary = _summary(sizes, conv, s1, s2, level)
    summary.index = index
    return CohortRevenue(
        sizes=pd.Series(sizes.astype("int64"), index=index, name="cohort_size"),
        revenue=frame(revenue), cumulative_revenue_per_user=frame(per_user), paying=frame(paying),
        converted=frame(converted), conversion_rate=frame(rate), summary=summary, period=period,
        target_events=targets, level=float(level),
    )
