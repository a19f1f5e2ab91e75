"""The database funnel path: one ``GROUP BY person`` aggregate in SQL, exact evaluation only where needed.

Pass 1 streams one row per person (first/last time of each step, entry and exclusion counts, entry breakdown
range) and the fast pass (:mod:`analytics.funnel._fast`) settles everyone it provably can. The remaining
people's ids go into a temporary table; pass 2 streams only their events, with the step and exclusion bit masks
computed in SQL, through the exact evaluator. Memory holds one chunk of rows plus the per-person outcomes.
Works on SQLite and PostgreSQL (SQLAlchemy Core; the only dialect-specific piece is :class:`epoch_us`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Column, MetaData, String, Table, and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from analytics.funnel._fast import MAX_SENTINEL, MIN_SENTINEL, PersonAggregates, fast_pass
from analytics.funnel._frame import exact_outcomes
from analytics.funnel._result import Outcomes
from analytics.funnel._spec import FunnelSpec, Step

__all__ = ["epoch_us", "sql_outcomes", "step_condition"]

_CHUNK = 50_000


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


def _property(ev: Table, key: str, value: Any = "") -> ColumnElement:
    from analytics.events import ATTRIBUTE_KEYS

    if key in ATTRIBUTE_KEYS:
        return ev.c[key]
    item = ev.c.event_data[key]
    if isinstance(value, bool):
        return item.as_boolean()
    if isinstance(value, int):
        return item.as_integer()
    if isinstance(value, float):
        return item.as_float()
    return item.as_string()


def step_condition(ev: Table, step: Step) -> ColumnElement:
    """SQL condition for an event matching ``step`` (name and typed property filters)."""
    conds = [ev.c.event_type == step.event]
    for key, wanted in step.filters.items():
        if isinstance(wanted, list | tuple | set | frozenset):
            values = list(wanted)
            conds.append(_property(ev, key, values[0] if values else "").in_(values))
        else:
            conds.append(_property(ev, key, wanted) == wanted)
    return and_(*conds)


def _connect(source: Engine | Connection | str):
    if isinstance(source, Connection):
        return _Borrowed(source)
    if isinstance(source, str):
        from analytics.db import get_read_engine

        source = get_read_engine(source)
    return source.connect()


class _Borrowed:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, *exc) -> None:
        return None


def sql_outcomes(source: Engine | Connection | str, spec: FunnelSpec, start: Any, end: Any) -> Outcomes:
    """Per-person best attempts computed from ``analytics_events`` for events in ``[start, end)``."""
    from analytics.identity import person_map
    from analytics.schema import analytics_events as ev
    from analytics.storage import check_period

    s, e = check_period(start, end)
    n = spec.n_steps
    pm = person_map().subquery("pm")
    step_c = [step_condition(ev, st) for st in spec.steps]
    excl_c = [step_condition(ev, x.step) for x in spec.exclusions]
    entry = or_(*step_c) if spec.order == "unordered" else step_c[0]
    bd = func.coalesce(_property(ev, spec.breakdown), "") if spec.breakdown else literal("")
    joined = ev.join(pm, pm.c.session_id == ev.c.session_id)
    names = sorted({st.event for st in spec.steps} | {x.step.event for x in spec.exclusions})
    period = and_(ev.c.timestamp >= s, ev.c.timestamp < e)
    cols = [pm.c.person_id.label("person_id")]
    cols += [func.min(case((c, ev.c.timestamp))).label(f"f{k}") for k, c in enumerate(step_c)]
    cols += [func.max(case((c, ev.c.timestamp))).label(f"l{k}") for k, c in enumerate(step_c)]
    cols += [
        func.sum(case((entry, 1), else_=0)).label("n0"),
        func.sum(case((or_(*excl_c), 1), else_=0)).label("nx") if excl_c else literal(0).label("nx"),
        func.min(case((entry, bd))).label("bdmin"),
        func.max(case((entry, bd))).label("bdmax"),
    ]
    agg = (
        select(*cols)
        .select_from(joined)
        .where(period, ev.c.event_type.in_(names))  # one index range per name; the CASEs do the matching
        .group_by(pm.c.person_id)
        .having(func.sum(case((entry, 1), else_=0)) > 0)
        .subquery("agg")
    )
    pass1 = select(
        agg.c.person_id,
        *[epoch_us(agg.c[f"f{k}"]) for k in range(n)],
        *[epoch_us(agg.c[f"l{k}"]) for k in range(n)],
        agg.c.n0,
        agg.c.nx,
        agg.c.bdmin,
        agg.c.bdmax,
    )
    parts: list[Outcomes] = []
    todo: list[str] = []
    with _connect(source) as conn:
        for chunk in _stream(conn, pass1):
            outcome, complex_ids = _settle(chunk, spec)
            parts.append(outcome)
            todo.extend(complex_ids)
        if todo:
            smask = sum((case((c, 1 << k), else_=0) for k, c in enumerate(step_c)), literal(0))
            xmask = sum((case((c, 1 << k), else_=0) for k, c in enumerate(excl_c)), literal(0))
            relevant = [] if spec.order == "strict" else [or_(*step_c, *excl_c)]
            parts.append(_exact_pass(conn, joined, pm, period, relevant, smask, xmask, bd, todo, spec))
    return Outcomes.concat(parts, n)


def _stream(conn: Connection, stmt) -> Iterator[list[tuple]]:
    result = conn.execute(stmt, execution_options={"stream_results": True, "yield_per": _CHUNK})
    yield from (list(p) for p in result.partitions(_CHUNK))


def _settle(rows: list[tuple], spec: FunnelSpec) -> tuple[Outcomes, list[str]]:
    n = spec.n_steps
    cols = list(zip(*rows, strict=True))
    person = np.array(cols[0], dtype=object)

    def ints(values, missing):
        return np.array([missing if v is None else v for v in values], dtype=np.int64)

    first = np.column_stack([ints(cols[1 + k], MAX_SENTINEL) for k in range(n)])
    last = np.column_stack([ints(cols[1 + n + k], MIN_SENTINEL) for k in range(n)])
    n0 = ints(cols[1 + 2 * n], 0)
    nx = ints(cols[2 + 2 * n], 0)
    bdmin = np.array(cols[3 + 2 * n], dtype=object)
    uniform = np.array([a == b for a, b in zip(bdmin, cols[4 + 2 * n], strict=True)], dtype=bool)
    reached, times, exact = fast_pass(PersonAggregates(first, last, n0, nx, uniform), spec)
    keep = exact & (reached > 0)
    bd = np.array(["" if v is None else str(v) for v in bdmin[keep]], dtype=object)
    return Outcomes(person[keep], bd, reached[keep], times[keep]), [str(p) for p in person[~exact]]


def _exact_pass(conn, joined, pm, period, relevant, smask, xmask, bd, todo, spec) -> Outcomes:
    tmp = Table(
        f"funnel_todo_{uuid.uuid4().hex[:10]}",
        MetaData(),
        Column("person_id", String(100), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    tmp.create(conn)
    try:
        for lo in range(0, len(todo), _CHUNK):
            conn.execute(tmp.insert(), [{"person_id": p} for p in todo[lo : lo + _CHUNK]])
        from analytics.schema import analytics_events as ev

        stmt = (
            select(pm.c.person_id, epoch_us(ev.c.timestamp), smask, xmask, bd)
            .select_from(joined)
            .where(
                period,
                *relevant,
                # the todo people's sessions first, then their events through the session index
                ev.c.session_id.in_(
                    select(pm.c.session_id).where(pm.c.person_id.in_(select(tmp.c.person_id)))
                ),
            )
            .order_by(pm.c.person_id)
        )

        def groups():
            current, rows = None, []
            for chunk in _stream(conn, stmt):
                for row in chunk:
                    if row[0] != current and rows:
                        yield _group(current, rows)
                        rows = []
                    current = row[0]
                    rows.append(row)
            if rows:
                yield _group(current, rows)

        return exact_outcomes(groups(), spec)
    finally:
        tmp.drop(conn)


def _group(person: str, rows: list[tuple]):
    rows.sort(key=lambda r: (r[1], "" if r[4] is None else str(r[4])))
    return (
        str(person),
        [int(r[1]) for r in rows],
        [int(r[2]) for r in rows],
        [int(r[3]) for r in rows],
        ["" if r[4] is None else str(r[4]) for r in rows],
    )
