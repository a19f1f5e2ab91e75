"""The database funnel path: the fast pass, the step counts and the time-to-convert totals all in SQL.

1. A two-level aggregate — ``GROUP BY session`` over the events (first/last time of each step, entry and
   exclusion counts, entry breakdown range), then per person through the ``sessions`` table (anonymous
   sessions are people on their own and skip that step) — feeds the fast-pass chain written as SQL ``CASE``
   expressions (:mod:`analytics.funnel._sqlexpr`). The per-person result ``(person_id, bd, reached, exact,
   t0..t{n-1})`` goes into a temporary table (``CREATE TEMPORARY TABLE ... AS``), never to Python.
2. Only the ids of the people the fast pass cannot settle (``exact = 0``; 102 of 74,746 at 1 M demo events)
   are fetched; their events stream through the exact evaluator and their outcomes replace their rows.
3. One aggregate over the table gives counts, duration sums and medians per step and breakdown value
   (:mod:`analytics.funnel._sqltotals`).

Python therefore receives per-step totals plus the few ids needing the exact evaluator; memory does not grow
with the number of events or people. On PostgreSQL the work runs in one transaction with ``SET LOCAL jit = off``
(compiling the wide aggregate cost ≈0.5 s and saved nothing), ``enable_sort = off`` for the aggregate (else the
planner may sort the wide rows on disk: 20 s instead of 7 s at 9.4 M events) and ``work_mem = 512MB`` so the
per-session hash table (≈500 MB at 800k sessions, server side) stays in memory. A connection that cannot
create temporary tables (read replica, read-only transaction) uses :func:`analytics.funnel._sqlstream.streamed_outcomes`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
)
from sqlalchemy.engine import Connection, Engine

from analytics.funnel._result import Outcomes, StepTotals
from analytics.funnel._spec import FunnelSpec
from analytics.funnel._sqlexpr import (
    Clock,
    CreateTempAs,
    chain_columns,
    epoch_us,
    person_stage,
    step_condition,
)
from analytics.funnel._sqlstream import CHUNK, INLINE, can_create_temp, exact_pass, stream, streamed_outcomes
from analytics.funnel._sqltotals import step_totals

__all__ = ["epoch_us", "sql_outcomes", "sql_totals", "step_condition"]

#: Session settings for the funnel transaction on PostgreSQL.
PG_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '512MB'")


@contextlib.contextmanager
def _transaction(source: Engine | Connection | str) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back at the end (nothing here is meant to persist)."""
    if isinstance(source, Connection):
        yield source  # the caller's transaction; the temporary table is dropped explicitly
        return
    if isinstance(source, str):
        from analytics.db import get_read_engine

        source = get_read_engine(source)
    with source.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()


def _settings(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for stmt in PG_SETTINGS:
            conn.exec_driver_sql(stmt)


@contextlib.contextmanager
def _outcome_table(conn: Connection, spec: FunnelSpec, start: Any, end: Any) -> Iterator[Table]:
    """Build the per-person outcome table (fast pass in SQL, exact pass for the rest); drop it afterwards."""
    from analytics.storage import check_period

    s, e = check_period(start, end)
    _settings(conn)
    name = f"funnel_{uuid.uuid4().hex[:12]}"
    clock = Clock(conn.dialect.name)
    per, period, step_c, excl_c, bd = person_stage(spec, s, e, integer_times=clock.integer)
    if conn.dialect.name == "postgresql":  # a hash aggregate in memory, not an on-disk sort of wide rows
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
    conn.execute(CreateTempAs(name, select(*chain_columns(per, spec, clock))))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_sort = on")
    n = spec.n_steps
    tmp = Table(
        name,
        MetaData(),
        Column("person_id", String(100)),
        Column("bd", String(200)),
        Column("reached", Integer),
        Column("exact", Integer),
        *[Column(f"t{k}", clock.type) for k in range(n)],
    )
    try:
        ids = [r[0] for r in conn.execute(select(tmp.c.person_id).where(tmp.c.exact == 0).limit(INLINE + 1))]
        if ids:
            if len(ids) <= INLINE:
                todo = ids  # a literal list: exact row estimates without analysing the temporary table
            else:
                if conn.dialect.name == "postgresql":  # temporary tables get no autovacuum statistics
                    conn.exec_driver_sql(f"ANALYZE {name}")
                todo = select(tmp.c.person_id).where(tmp.c.exact == 0)
            exact = exact_pass(conn, todo, spec, period, step_c, excl_c, bd)
            conn.execute(delete(tmp).where(tmp.c.exact == 0))
            rows = [
                {
                    "person_id": str(p),
                    "bd": str(b),
                    "reached": int(r),
                    "exact": 1,
                    **{f"t{k}": (clock.value(ts[k]) if k < r else None) for k in range(n)},
                }
                for p, b, r, ts in zip(exact.person_id, exact.breakdown, exact.reached, exact.times, strict=True)
            ]
            for lo in range(0, len(rows), CHUNK):
                conn.execute(tmp.insert(), rows[lo : lo + CHUNK])
        yield tmp
    except BaseException:
        with contextlib.suppress(Exception):  # after a PostgreSQL error only the rollback can drop it
            tmp.drop(conn)
        raise
    tmp.drop(conn)


def sql_totals(source: Engine | Connection | str, spec: FunnelSpec, start: Any, end: Any) -> StepTotals:
    """Per-step counts and time-to-convert totals for events in ``[start, end)``, computed in the database
    (streamed through numpy when the connection cannot create temporary tables)."""
    with _transaction(source) as conn:
        if not can_create_temp(conn):
            return StepTotals.from_outcomes(_streamed(conn, spec, start, end, ids=False), spec)
        with _outcome_table(conn, spec, start, end) as tmp:
            return step_totals(conn, tmp, spec, Clock(conn.dialect.name))


def _streamed(conn: Connection, spec: FunnelSpec, start: Any, end: Any, *, ids: bool = True) -> Outcomes:
    from analytics.storage import check_period

    _settings(conn)
    return streamed_outcomes(conn, spec, *check_period(start, end), ids=ids)


def sql_outcomes(source: Engine | Connection | str, spec: FunnelSpec, start: Any, end: Any) -> Outcomes:
    """Each entering person's id, entry breakdown value and steps reached (times only in the fallback)."""
    with _transaction(source) as conn:
        if not can_create_temp(conn):
            return _streamed(conn, spec, start, end)
        with _outcome_table(conn, spec, start, end) as tmp:
            return _people(conn, tmp)


def _people(conn: Connection, tmp: Table) -> Outcomes:
    ids, bds, reached = [], [], []
    stmt = select(tmp.c.person_id, tmp.c.bd, tmp.c.reached).order_by(tmp.c.person_id)
    for chunk in stream(conn, stmt):
        for p, b, r in chunk:
            ids.append(p)
            bds.append("" if b is None else b)
            reached.append(r)
    return Outcomes(
        np.array(ids, dtype=object),
        np.array(bds, dtype=object),
        np.array(reached, dtype=np.int64),
        np.zeros((len(ids), 0), dtype=np.int64),
    )


