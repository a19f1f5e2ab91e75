"""Per-step totals of the database funnel from the per-person outcome table, in SQL.

From the temporary table ``(person_id, bd, reached, exact, t0..t{n-1})`` (times in µs) this builds the relation
``(bd, k, dur)`` — one row per person and step reached, ``dur`` the time from the previous step (NULL at step 0)
— and reduces it with ``GROUP BY bd, k`` to counts, sums and medians (rule 10: the median of an even count is
the mean of the two middle values). PostgreSQL computes the median with ``percentile_cont(0.5)``, which
interpolates exactly that; SQLite, which has no percentile aggregate, takes the average of the one or two middle
rows ranked by ``ROW_NUMBER()`` (Hyndman & Fan 1996, definition 7 at p = 0.5, for both).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import BigInteger, Integer, Table, and_, case, func, literal, null, select, union_all
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.engine import Connection

from analytics.funnel._result import StepTotals
from analytics.funnel._spec import FunnelSpec
from analytics.funnel._sqlexpr import Clock

__all__ = ["durations", "step_totals"]


def durations(tmp: Table, spec: FunnelSpec, clock: Clock):
    """The ``(bd, k, dur)`` subquery: one row per person and step reached (``dur`` NULL at step 0)."""
    n = spec.n_steps
    t = [tmp.c[f"t{k}"] for k in range(n)]
    if spec.order != "unordered":  # step times increase along the funnel
        parts = [
            select(
                tmp.c.bd,
                literal(k, Integer).label("k"),
                clock.minus_us(t[k], t[k - 1]).label("dur") if k else null().cast(BigInteger).label("dur"),
            ).where(tmp.c.reached > k)
            for k in range(n)
        ]
        return union_all(*parts).subquery("d")
    # unordered: the step times are the person's step events in time order (fast-pass rows store them unsorted)
    stacked = union_all(
        *[
            select(tmp.c.person_id, tmp.c.bd, t[k].label("t")).where(t[k].is_not(None))
            for k in range(n)
        ]
    ).subquery("u")
    ranked = select(
        stacked.c.bd,
        (func.row_number().over(partition_by=stacked.c.person_id, order_by=stacked.c.t) - 1).label("k"),
        clock.minus_us(
            stacked.c.t, func.lag(stacked.c.t).over(partition_by=stacked.c.person_id, order_by=stacked.c.t)
        ).label("dur"),
    )
    return ranked.subquery("d")


def step_totals(conn: Connection, tmp: Table, spec: FunnelSpec, clock: Clock) -> StepTotals:
    """Counts, duration sums and medians per breakdown value and step, computed in the database."""
    if conn.dialect.name == "postgresql" and spec.order != "unordered":
        return _pg_sequential_totals(conn, tmp, spec)
    d = durations(tmp, spec, clock)
    cols = [d.c.bd, d.c.k, func.count().label("n"), func.sum(d.c.dur).label("s")]
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        cols.append(func.percentile_cont(0.5).within_group(d.c.dur).label("med"))
    rows = conn.execute(select(*cols).group_by(d.c.bd, d.c.k)).all()
    if postgres:
        medians = {(r.bd, r.k): r.med for r in rows}
    else:
        medians = _sqlite_medians(conn, d)
    values = sorted({r.bd for r in rows})
    index = {v: i for i, v in enumerate(values)}
    n = spec.n_steps
    count = np.zeros((len(values), n), dtype=np.int64)
    dur_sum = np.zeros((len(values), n), dtype=np.int64)
    median = np.full((len(values), n), np.nan)
    for r in rows:
        b = index[r.bd]
        count[b, r.k] = int(r.n)
        dur_sum[b, r.k] = int(r.s or 0)
        m = medians.get((r.bd, r.k))
        median[b, r.k] = np.nan if m is None else float(m)
    return StepTotals([str(v) for v in values], count, dur_sum, median)


def _sqlite_medians(conn: Connection, d) -> dict[tuple[str, int], float]:
    """Median of ``dur`` per (bd, k): the mean of the rows ranked ``c/2 <= rn <= c/2 + 1`` (one or two)."""
    part = (d.c.bd, d.c.k)
    ranked = (
        select(
            d.c.bd,
            d.c.k,
            d.c.dur,
            func.row_number().over(partition_by=part, order_by=d.c.dur).label("rn"),
            func.count().over(partition_by=part).label("c"),
        )
        .where(d.c.dur.is_not(None))
        .subquery("r")
    )
    mid = and_(ranked.c.rn * 2 >= ranked.c.c, ranked.c.rn * 2 <= ranked.c.c + 2)
    stmt = select(ranked.c.bd, ranked.c.k, func.avg(ranked.c.dur)).where(mid).group_by(ranked.c.bd, ranked.c.k)
    return {(bd, k): m for bd, k, m in conn.execute(stmt)}


def _pg_sequential_totals(conn: Connection, tmp: Table, spec: FunnelSpec) -> StepTotals:
    """Ordered/strict funnels on PostgreSQL: one scan of the outcome table, no per-row conversion.

    Durations stay intervals: their sum is exact (days and microseconds add separately) and converted once per
    step; the median is the mean of ``percentile_disc`` at 0.5 and at 0.5 + 1e-9, which are the two middle
    values of an even count and both the middle value of an odd one (PostgreSQL takes the row at
    ``ceil(p * count)``; exact for fewer than 5e8 people per step). Measured on 750k people: 1.07 s against
    1.51 s for ``percentile_cont`` over microseconds extracted row by row.
    """
    n = spec.n_steps
    t = [tmp.c[f"t{k}"] for k in range(n)]
    dur = [case((tmp.c.reached > k, t[k] - t[k - 1])) for k in range(1, n)]
    probes = array([literal(0.5), literal(0.500000001)])
    cols = [tmp.c.bd, func.count().label("c0")]
    cols += [func.sum(case((tmp.c.reached > k, 1), else_=0)).label(f"c{k}") for k in range(1, n)]
    cols += [func.sum(d).label(f"s{k}") for k, d in enumerate(dur, 1)]
    cols += [func.percentile_disc(probes).within_group(d).label(f"m{k}") for k, d in enumerate(dur, 1)]
    stmt = select(*cols).group_by(tmp.c.bd) if spec.breakdown else select(*cols[1:], literal("").label("bd"))
    rows = sorted(conn.execute(stmt).all(), key=lambda r: r.bd)
    rows = [r for r in rows if r.c0]  # no breakdown and nobody: one all-NULL row
    count = np.zeros((len(rows), n), dtype=np.int64)
    dur_sum = np.zeros((len(rows), n), dtype=np.int64)
    median = np.full((len(rows), n), np.nan)
    us = timedelta(microseconds=1)
    for b, r in enumerate(rows):
        m = r._mapping
        count[b, 0] = m["c0"]
        for k in range(1, n):
            count[b, k] = m[f"c{k}"]
            if m[f"s{k}"] is not None:
                dur_sum[b, k] = m[f"s{k}"] // us
            if m[f"m{k}"] is not None:
                lo, hi = m[f"m{k}"]
                median[b, k] = (lo // us + hi // us) / 2
    return StepTotals([str(r.bd) for r in rows], count, dur_sum, median)
