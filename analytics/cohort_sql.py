"""SQL building blocks of the cohort analyses: each person's activity per period in one pass over the events.

:func:`person_periods` scans only the event types an analysis needs (through the ``(event_type, timestamp)``
index), groups them by ``(session, period)`` — a few rows per session — and only then maps sessions to persons
with one join against the ``sessions`` table (:mod:`analytics.identity`). The result, one row per
``(person, period)`` with 0/1 flags and optional sums, is a CTE that the retention matrix
(:func:`retention_counts`) and the revenue curves (:mod:`analytics.cohort_revenue`) query several times in a
single statement, so the events are read and persons resolved once per call (PostgreSQL materialises a CTE that
is referenced more than once).

Period index ``k`` counts periods from ``origin`` (a period start); with ``history=True`` the scan also covers
events before ``origin`` and gives them ``k = -1`` (enough to find who was seen before the range: the index is
monotone in time, so a person's first period is the minimum ``k``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import Float, Integer, case, cast, func, literal, literal_column, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import CTE

from analytics.identity import person_map
from analytics.schema import analytics_events

__all__ = ["period_index_sql", "person_periods", "pg_settings", "retention_counts"]


def period_index_sql(conn: Connection, ts: Any, origin: dt.datetime, period: str) -> Any:
    """SQL expression: integer period index of ``ts`` (>= origin) relative to ``origin``."""
    pg = conn.dialect.name == "postgresql"
    if period == "month":
        if pg:
            year, month = func.extract("year", ts), func.extract("month", ts)
        else:
            year, month = cast(func.strftime("%Y", ts), Integer), cast(func.strftime("%m", ts), Integer)
        return cast(year * 12 + month - (origin.year * 12 + origin.month), Integer)
    width = 7 if period == "week" else 1
    if pg:
        seconds = func.extract("epoch", ts - literal(origin))
        return cast(func.floor(seconds / (86400 * width)), Integer)
    days = func.julianday(ts) - func.julianday(literal(origin.strftime("%Y-%m-%d %H:%M:%S")))
    return cast(days / width, Integer)  # days >= 0: truncation is floor


#: Planner settings for the cohort statements on PostgreSQL (restored afterwards): CTE row estimates are
#: guesses, so a nested loop over two materialised CTEs can be chosen and take minutes where a hash join takes
#: a second; JIT compilation costs more (about 1 s) than it saves on these row counts; sorts and hashes of a
#: million (person, period) rows fit in 128 MB instead of spilling to disk.
_SETTINGS = {"enable_nestloop": "off", "jit": "off", "work_mem": "128MB"}


@contextmanager
def pg_settings(conn: Connection, settings: Mapping[str, str]) -> Iterator[None]:
    """Apply planner ``settings`` for the statements inside (PostgreSQL only; a no-op on SQLite), then restore
    the previous values; transaction-local (``set_config(..., true)``), so they never outlive the transaction."""
    if conn.dialect.name != "postgresql":
        yield
        return
    old = {k: conn.execute(select(func.current_setting(k))).scalar_one() for k in settings}
    for k, v in settings.items():
        conn.execute(select(func.set_config(k, v, True)))
    yield  # on an error the transaction is aborted and rolls the local settings back itself
    for k, v in old.items():
        conn.execute(select(func.set_config(k, v, True)))


def _flag(types: tuple[str, ...]) -> Any:
    return func.max(case((analytics_events.c.event_type.in_(types), 1), else_=0))


def person_periods(
    conn: Connection,
    *,
    flags: Mapping[str, tuple[str, ...]],
    origin: dt.datetime,
    end_excl: dt.datetime,
    period: str,
    history: bool = False,
    sums: Mapping[str, tuple[tuple[str, ...], Any]] | None = None,
    name: str = "pk",
) -> CTE:
    """CTE ``(person, k, <flag>..., <sum>...)``: one row per person and period with any of the events.

    Parameters
    ----------
    flags:
        Column name -> event types; the column is 1 when the person had one of them in the period, else 0.
    origin, end_excl, period:
        Events in ``[origin, end_excl)`` (``(-inf, end_excl)`` with ``history``) indexed by ``period``.
    history:
        Also scan events before ``origin`` (all of them get ``k = -1``).
    sums:
        Column name -> (event types, SQL value expression over ``analytics_events``); the column is the sum of
        the value over those events (0 when none).
    """
    ev = analytics_events
    sums = dict(sums or {})
    types = sorted({t for ts in flags.values() for t in ts} | {t for ts, _ in sums.values() for t in ts})
    idx = period_index_sql(conn, ev.c.timestamp, origin, period)
    k = case((ev.c.timestamp < origin, -1), else_=idx) if history else idx
    cond = [ev.c.event_type.in_(types), ev.c.timestamp < end_excl]
    if not history:
        cond.append(ev.c.timestamp >= origin)
    cols = [_flag(ts).label(n) for n, ts in flags.items()]
    cols += [
        func.sum(case((ev.c.event_type.in_(ts), cast(v, Float)), else_=0.0)).label(n) for n, (ts, v) in sums.items()
    ]
    per_session = (
        select(ev.c.session_id, k.label("k"), *cols).where(*cond).group_by(ev.c.session_id, k).subquery("sk")
    )
    pm = person_map().subquery("pm")
    person = func.coalesce(pm.c.person_id, per_session.c.session_id)
    if conn.dialect.name == "postgresql":  # byte order: sorts and groups persons without locale collation
        person = person.collate("C")
    agg = [func.max(per_session.c[n]).label(n) for n in flags]
    agg += [func.sum(per_session.c[n]).label(n) for n in sums]
    return (
        select(person.label("person"), per_session.c.k, *agg)
        .select_from(per_session.outerjoin(pm, pm.c.session_id == per_session.c.session_id))
        .group_by(person, per_session.c.k)
        .cte(name)
    )


def retention_counts(
    conn: Connection,
    targets: tuple[str, ...],
    returning: tuple[str, ...],
    origin: dt.datetime,
    end_excl: dt.datetime,
    period: str,
    first: bool,
) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Cohort sizes, ``(cohort, k, n)`` exact counts and ``(cohort, last_k, n)`` counts in one statement.

    One window pass over :func:`person_periods` gives every ``(person, period)`` row the person's first target
    period, last returning period and number of active periods. A member's last returning period after the
    cohort period is the person's last returning period overall whenever that is later, so the "or later"
    counts need no join; the exact counts join cohort rows to returning rows only for people active in more
    than one period (the few who can return at all).
    """
    pk = person_periods(
        conn, flags={"t": targets, "r": returning}, origin=origin, end_excl=end_excl, period=period, history=first
    )
    by_person = {"partition_by": pk.c.person}
    pw = select(
        pk.c.person,
        pk.c.k,
        pk.c.t,
        pk.c.r,
        func.min(case((pk.c.t == 1, pk.c.k))).over(**by_person).label("f"),
        func.max(case(((pk.c.r == 1) & (pk.c.k >= 0), pk.c.k))).over(**by_person).label("lr"),
        func.count().over(**by_person).label("n"),
    ).cte("pw")
    member = (pw.c.t == 1) & (pw.c.k >= 0)
    if first:
        member = member & (pw.c.k == pw.c.f)
    sizes = select(literal_column("'size'").label("kind"), pw.c.k.label("cohort"), literal(0, Integer).label("k"))
    sizes = sizes.add_columns(func.count().label("n")).where(member).group_by(pw.c.k)
    last = select(literal_column("'last'"), pw.c.k, pw.c.lr, func.count()).where(member, pw.c.lr > pw.c.k)
    last = last.group_by(pw.c.k, pw.c.lr)
    if first:  # one cohort per person: its returning rows are the pairs
        exact = select(literal_column("'exact'"), pw.c.f, pw.c.k, func.count())
        exact = exact.where(pw.c.r == 1, pw.c.f >= 0, pw.c.k > pw.c.f).group_by(pw.c.f, pw.c.k)
    else:
        c = select(pw.c.person, pw.c.k).where(member, pw.c.n > 1, pw.c.lr > pw.c.k).subquery("c")
        r = select(pw.c.person, pw.c.k).where(pw.c.r == 1, pw.c.k >= 0, pw.c.n > 1).subquery("r")
        exact = (
            select(literal_column("'exact'"), c.c.k, r.c.k, func.count())
            .select_from(c.join(r, (r.c.person == c.c.person) & (r.c.k > c.c.k)))
            .group_by(c.c.k, r.c.k)
        )
    with pg_settings(conn, _SETTINGS):
        result = conn.execute(union_all(sizes, exact, last)).all()
    rows = pd.DataFrame(result, columns=["kind", "cohort", "k", "n"])
    rows[["cohort", "k", "n"]] = rows[["cohort", "k", "n"]].astype("int64")
    size_rows = rows[rows["kind"] == "size"]
    cols = ["cohort", "k", "n"]
    return (
        pd.Series(size_rows["n"].to_numpy(), index=size_rows["cohort"].to_numpy(), dtype="int64"),
        rows.loc[rows["kind"] == "exact", cols].reset_index(drop=True),
        rows.loc[rows["kind"] == "last", cols].reset_index(drop=True),
    )
