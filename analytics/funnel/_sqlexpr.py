"""SQL building blocks of the database funnel: step conditions, exact epoch microseconds, CREATE TABLE AS, and
the fast-pass chain of :mod:`analytics.funnel._fast` written as SQL ``CASE`` expressions.

Everything is SQLAlchemy Core and compiles on SQLite and PostgreSQL; the only dialect-specific pieces are
:class:`epoch_us` and :class:`CreateTempAs` (identical SQL on both, a construct only so bind parameters flow).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    Interval,
    String,
    and_,
    case,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from analytics.funnel._spec import FunnelSpec, Step

__all__ = ["Clock", "CreateTempAs", "chain_columns", "epoch_us", "interval_us", "person_stage", "step_condition"]


class epoch_us(FunctionElement):  # noqa: N801 - SQL function style
    """Microseconds since the epoch of a naive-UTC timestamp, exact (integer) on both dialects."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_us, "postgresql")
def _epoch_pg(element, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) * 1000000 AS BIGINT)"


@compiles(epoch_us, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    x = compiler.process(element.clauses, **kw)
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'; strftime('%s') has whole seconds only.
    return f"(CAST(strftime('%s', substr({x}, 1, 19)) AS INTEGER) * 1000000 + CAST(substr({x}, 21, 6) AS INTEGER))"


class CreateTempAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE name AS <select>`` (PostgreSQL may run the select in parallel, unlike
    ``INSERT ... SELECT``)."""

    inherit_cache = False

    def __init__(self, name: str, query: Any) -> None:
        self.name = name
        self.query = query


@compiles(CreateTempAs)
def _create_temp_as(element, compiler, **kw):
    return f"CREATE TEMPORARY TABLE {element.name} AS {compiler.process(element.query, **kw)}"


def _property(ev, key: str, value: Any = "") -> ColumnElement:
    from analytics.events import ATTRIBUTE_KEYS

    if key in ATTRIBUTE_KEYS:
        return ev.c[key]
    if key == "step" and isinstance(value, int) and not isinstance(value, bool) and "form_step" in ev.c:
        return ev.c.form_step  # typed copy of event_data.step (integers only), filled at ingest
    item = ev.c.event_data[key]
    if isinstance(value, bool):
        return item.as_boolean()
    if isinstance(value, int):
        return item.as_integer()
    if isinstance(value, float):
        return item.as_float()
    return item.as_string()


def step_condition(ev, step: Step) -> ColumnElement:
    """SQL condition for an event matching ``step`` (name and typed property filters)."""
    conds = [ev.c.event_type == step.event]
    for key, wanted in step.filters.items():
        if isinstance(wanted, list | tuple | set | frozenset):
            values = list(wanted)
            conds.append(_property(ev, key, values[0] if values else "").in_(values))
        else:
            conds.append(_property(ev, key, wanted) == wanted)
    return and_(*conds)


def breakdown_value(ev, spec: FunnelSpec) -> ColumnElement:
    """The breakdown property of an event as text ('' when missing or no breakdown)."""
    return func.coalesce(_property(ev, spec.breakdown), "") if spec.breakdown else literal("")


def person_stage(spec: FunnelSpec, start, end, *, integer_times: bool = True):
    """One row per person entering the funnel: first/last time (µs) of each step, entry and exclusion counts,
    entry breakdown range — the aggregates of :class:`analytics.funnel._fast.PersonAggregates`, in SQL.

    Times are integer microseconds when ``integer_times`` (SQLite), else timestamps (see :class:`Clock`).
    Returns ``(subquery, period, step conditions, exclusion conditions, breakdown)``; all but the first are
    reused by the exact pass.
    """
    from analytics.schema import analytics_events as ev
    from analytics.schema import sessions

    step_c = [step_condition(ev, st) for st in spec.steps]
    excl_c = [step_condition(ev, x.step) for x in spec.exclusions]
    entry = or_(*step_c) if spec.order == "unordered" else step_c[0]
    bd = breakdown_value(ev, spec)
    names = sorted({st.event for st in spec.steps} | {x.step.event for x in spec.exclusions})
    period = and_(ev.c.timestamp >= start, ev.c.timestamp < end)
    need_last = range(spec.n_steps) if spec.order == "unordered" else range(1, spec.n_steps)
    # Two levels: GROUP BY session on the events (no join per event; PostgreSQL runs it as a parallel hash
    # aggregate), then the ~1 row per session joined to the sessions table and combined per person.
    cols = [ev.c.session_id]
    cols += [func.min(case((c, ev.c.timestamp))).label(f"f{k}") for k, c in enumerate(step_c)]
    cols += [func.max(case((step_c[k], ev.c.timestamp))).label(f"l{k}") for k in need_last]
    cols += [
        func.sum(case((entry, 1), else_=0)).label("n0"),
        func.sum(case((or_(*excl_c), 1), else_=0)).label("nx") if excl_c else literal(0).label("nx"),
    ]
    if spec.breakdown is not None:  # text min/max per event are not free: only with a breakdown
        # the earliest entry's value: fixed-width time text + value, so min() orders by time, then value
        cols.append(func.min(case((entry, ts_text(ev.c.timestamp) + bd))).label("bdfirst"))
    ps = (
        select(*cols)
        .where(period, ev.c.event_type.in_(names))  # one index range per name; the CASEs do the matching
        .group_by(ev.c.session_id)
        .cte("ps")
    )
    # Identity (analytics.identity): the person is the session's user id, else the session itself. Anonymous
    # sessions (about half) are people on their own and skip the second aggregate.
    se = sessions
    on = se.c.session_id == ps.c.session_id
    anon = select(
        ps.c.session_id.label("person_id"),
        *[ps.c[f"f{k}"] for k in range(spec.n_steps)],
        *[ps.c[f"l{k}"] for k in need_last],
        ps.c.n0,
        ps.c.nx,
        (ps.c.bdfirst if spec.breakdown else literal("")).label("bdfirst"),
    ).select_from(ps.join(se, on)).where(se.c.user_id.is_(None), ps.c.n0 > 0)
    n_entries = func.sum(ps.c.n0)
    ident = (
        select(
            se.c.user_id.label("person_id"),
            *[func.min(ps.c[f"f{k}"]).label(f"f{k}") for k in range(spec.n_steps)],
            *[func.max(ps.c[f"l{k}"]).label(f"l{k}") for k in need_last],
            n_entries.label("n0"),
            func.sum(ps.c.nx).label("nx"),
            (func.min(ps.c.bdfirst) if spec.breakdown else literal("")).label("bdfirst"),
        )
        .select_from(ps.join(se, on))
        .where(se.c.user_id.is_not(None))
        .group_by(se.c.user_id)
        .having(n_entries > 0)
    )
    agg = union_all(anon, ident).subquery("agg")
    if not integer_times:
        return agg, period, step_c, excl_c, bd
    # SQLite: times to integer microseconds once per person; OFFSET 0 keeps the planner from inlining the
    # conversions into every reference of the chain expressions.
    conv = select(
        agg.c.person_id,
        *[epoch_us(agg.c[f"f{k}"]).label(f"f{k}") for k in range(spec.n_steps)],
        *[epoch_us(agg.c[f"l{k}"]).label(f"l{k}") for k in need_last],
        agg.c.n0,
        agg.c.nx,
        agg.c.bdfirst,
    ).offset(0).subquery("conv")
    return conv, period, step_c, excl_c, bd


class ts_text(FunctionElement):  # noqa: N801 - SQL function style
    """A timestamp as fixed-width text ``YYYY-MM-DD HH:MM:SS.ffffff`` (26 characters; text order = time order)."""

    type = String()
    inherit_cache = True


@compiles(ts_text, "postgresql")
def _ts_text_pg(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD HH24:MI:SS.US')"


@compiles(ts_text, "sqlite")
def _ts_text_sqlite(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)  # stored in exactly that format by SQLAlchemy and the loaders


_TS_WIDTH = 26


class Clock:
    """How times are held in the per-person stage and the outcome table, per dialect.

    SQLite: integer microseconds (its text timestamps cannot take a microsecond offset). PostgreSQL: native
    timestamps, the window edge as ``f0 + interval`` and microseconds only for the durations, so the ~20
    first/last times per person are never converted (an ``EXTRACT`` per value cost ≈1 s at 750k people).
    """

    def __init__(self, dialect_name: str) -> None:
        self.integer = dialect_name != "postgresql"

    @property
    def type(self):
        return BigInteger() if self.integer else DateTime()

    def plus(self, t: ColumnElement, us: int) -> ColumnElement:
        return t + us if self.integer else t + literal(timedelta(microseconds=us), Interval())

    def minus_us(self, a: ColumnElement, b: ColumnElement) -> ColumnElement:
        """``a - b`` in integer microseconds."""
        return a - b if self.integer else interval_us(a - b)

    def value(self, us: int | None) -> Any:
        if us is None:
            return None
        return int(us) if self.integer else _EPOCH + timedelta(microseconds=int(us))


_EPOCH = datetime(1970, 1, 1)


class interval_us(FunctionElement):  # noqa: N801 - SQL function style
    """Microseconds of a PostgreSQL interval (days and time; exact, integer)."""

    type = BigInteger()
    inherit_cache = True


@compiles(interval_us, "postgresql")
def _interval_pg(element, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) * 1000000 AS BIGINT)"


def chain_columns(p, spec: FunnelSpec, clock: Clock) -> list[ColumnElement]:
    """``reached``, ``exact`` and the step times ``t0..t{n-1}`` of the fast pass, from a :func:`person_stage` row.

    Ordered: ``t_k = f_k`` while ``f_k > f_{k-1}`` and ``f_k <= f_0 + window``; the result is exact when the chain
    completes, or breaks at j with ``l_j <= f_{j-1}``, or breaks on the window with one entry (proof in
    :mod:`analytics.funnel._fast`). Strict: exact when nobody could take step 1. Unordered (distinct names):
    exact when every step event lies in the first anchor's window; times are the unsorted ``f_k`` (sorted when
    the durations are taken). In every settled case the best attempt is the first entry's (it reaches the most
    steps and is the earliest), so the breakdown value is the earliest entry event's (ties: the smallest value),
    whatever values later entries carry. People with exclusion events always go to the exact pass. ``n`` is at
    most a few dozen, so the nested ``CASE`` stays small.
    """
    n, w = spec.n_steps, spec.window_us
    f = [p.c[f"f{k}"] for k in range(n)]
    clean = p.c.nx == 0
    if spec.order == "unordered":
        present = [case((x.is_not(None), 1), else_=0) for x in f]
        reached = sum(present[1:], present[0])
        latest = p.c.l0  # the latest step event and the first anchor, NULL-skipping (portable, no LEAST)
        for k in range(1, n):
            latest = case((p.c[f"l{k}"] > latest, p.c[f"l{k}"]), (latest.is_(None), p.c[f"l{k}"]), else_=latest)
        first = f[0]
        for k in range(1, n):
            first = case((f[k] < first, f[k]), (first.is_(None), f[k]), else_=first)
        fast = and_(latest <= clock.plus(first, w)) if spec.disjoint else literal(False)
        exact = case((and_(fast, clean), 1), else_=0)
        times = f
    elif spec.order == "strict":
        reached = literal(1)
        fast = or_(p.c.l1.is_(None), p.c.l1 <= f[0]) if n > 1 else literal(True)
        exact = case((and_(fast, clean), 1), else_=0)
        times = [f[0], *[null().cast(clock.type) for _ in range(1, n)]]
    else:
        edge = clock.plus(f[0], w)
        brk = [or_(f[k].is_(None), f[k] <= f[k - 1], f[k] > edge) for k in range(1, n)]
        reached = case(*[(b, k) for k, b in enumerate(brk, 1)], else_=n) if n > 1 else literal(1)
        settled = [
            or_(p.c[f"l{k}"].is_(None), p.c[f"l{k}"] <= f[k - 1], and_(p.c.n0 == 1, f[k] > edge))
            for k in range(1, n)
        ]
        fast = case(*[(b, case((s, 1), else_=0)) for b, s in zip(brk, settled, strict=True)], else_=1) == 1
        exact = case((and_(fast, clean), 1), else_=0)
        times = f
    return [
        p.c.person_id,
        (func.substr(p.c.bdfirst, _TS_WIDTH + 1) if spec.breakdown else p.c.bdfirst).label("bd"),
        reached.cast(Integer).label("reached"),
        exact.label("exact"),
        *[t.label(f"t{k}") for k, t in enumerate(times)],
    ]
