"""Sufficient statistics of a test, computed in the database with one ``GROUP BY`` pass.

One query returns, per (variant, phase, day of first exposure), the number of exposed units and for every
metric ``Σy, Σy², Σx, Σx², Σxy`` (``y`` = the unit's value after first exposure, ``x`` = the same before it,
the CUPED covariate) plus, for ratio metrics, ``Σd, Σd², Σyd`` of the denominator. The per-unit values are
built in a sub-query grouped by unit, so memory in Python depends only on variants × phases × days, never on
the number of units or events. Overall, per-phase and cumulative-by-day statistics are sums of these rows.

Units: for ``unit="session"`` an event belongs to the unit of its ``session_id``; for ``unit="user"`` to the
person of its session (analytics.identity rule: the session's smallest user id, else the session id), resolved
through the ``sessions`` table (:func:`analytics.identity.person_map`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Date, Engine, and_, case, cast, func, literal, select

from analytics.experiments._config import ExperimentConfig
from analytics.experiments._metrics import METRICS, Metric
from analytics.identity import person_map
from analytics.schema import ab_assignments, analytics_events

__all__ = ["SUM_FIELDS", "experiment_sums"]

#: Per-metric sum columns, named ``<metric>__<field>``.
SUM_FIELDS = ("sy", "syy", "sx", "sxx", "sxy", "sd", "sdd", "syd")


def _day(col, dialect: str):
    return func.date(col) if dialect == "sqlite" else cast(col, Date)


def _event_source(metrics: Sequence[Metric], unit: str, end: datetime | None):
    e = analytics_events
    types = {t for m in metrics for t in m.event_types}
    types |= {m.denominator_event for m in metrics if m.denominator_event}
    types = sorted(types)
    keys = sorted({m.value_key for m in metrics if m.value_key})
    conds = [e.c.event_type.in_(types)]
    if end is not None:
        conds.append(e.c.timestamp < end)
    values = [e.c.event_data[k].as_float().label(f"v_{k}") for k in keys]
    if unit == "session":
        q = select(e.c.session_id.label("unit_id"), e.c.timestamp, e.c.event_type, *values)
        return q.where(*conds).subquery()
    pm = person_map().subquery("pm")
    return (
        select(pm.c.person_id.label("unit_id"), e.c.timestamp, e.c.event_type, *values)
        .join_from(e, pm, pm.c.session_id == e.c.session_id)
        .where(*conds)
        .subquery()
    )


def experiment_sums(
    engine: Engine | Connection,
    cfg: ExperimentConfig,
    *,
    metrics: Sequence[str] | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Per (variant, phase, day) sufficient statistics of ``cfg``'s exposed units.

    Parameters
    ----------
    engine:
        Database to read.
    cfg:
        The test.
    metrics:
        Metric names (default: the primary and guardrail metrics).
    end:
        Only exposures and events before this instant (naive UTC) count.

    Returns
    -------
    pandas.DataFrame
        Columns ``variant, phase, day, n`` and ``<metric>__<field>`` for ``field`` in :data:`SUM_FIELDS`.
    """
    names = list(metrics) if metrics is not None else [cfg.primary_metric, *cfg.guardrail_metrics]
    names = list(dict.fromkeys(names))
    ms = [METRICS[n] for n in names]
    conn_ctx = engine.connect() if isinstance(engine, Engine) else None
    conn = conn_ctx.__enter__() if conn_ctx is not None else engine
    try:
        dialect = conn.dialect.name
        a = ab_assignments
        ev = _event_source(ms, cfg.unit, end)
        a_conds = [a.c.test_id == cfg.test_id]
        if end is not None:
            a_conds.append(a.c.first_exposure_at < end)
        after = ev.c.timestamp >= a.c.first_exposure_at
        before = ev.c.timestamp < a.c.first_exposure_at
        cols = []
        for m in ms:
            is_m = ev.c.event_type.in_(m.event_types)
            if m.kind == "binary":
                y = func.max(case((and_(is_m, after), 1), else_=0))
                x = func.max(case((and_(is_m, before), 1), else_=0))
            else:
                val = func.coalesce(ev.c[f"v_{m.value_key}"], 0.0)
                y = func.sum(case((and_(is_m, after), val), else_=0.0))
                x = func.sum(case((and_(is_m, before), val), else_=0.0))
            cols += [func.coalesce(y, 0).label(f"{m.name}__y"), func.coalesce(x, 0).label(f"{m.name}__x")]
            if m.kind == "ratio":
                d = func.sum(case((and_(ev.c.event_type == m.denominator_event, after), 1), else_=0))
                cols.append(func.coalesce(d, 0).label(f"{m.name}__d"))
        day = _day(a.c.first_exposure_at, dialect).label("day")
        # Units without any metric event add nothing to the sums, so the per-unit values come from an inner
        # join (which both SQLite and PostgreSQL drive from the events, probing the assignments' primary key),
        # and the unit counts from the assignments alone.
        per_unit = (
            select(a.c.unit_id, a.c.variant, a.c.phase, day)
            .add_columns(*cols)
            .select_from(ev.join(a, and_(a.c.test_id == cfg.test_id, a.c.unit_id == ev.c.unit_id)))
            .where(*a_conds)
            .group_by(a.c.unit_id, a.c.variant, a.c.phase, a.c.first_exposure_at)
            .subquery()
        )
        agg = []
        for m in ms:
            y, x = per_unit.c[f"{m.name}__y"], per_unit.c[f"{m.name}__x"]
            agg += [
                func.sum(y).label(f"{m.name}__sy"),
                func.sum(y * y).label(f"{m.name}__syy"),
                func.sum(x).label(f"{m.name}__sx"),
                func.sum(x * x).label(f"{m.name}__sxx"),
                func.sum(x * y).label(f"{m.name}__sxy"),
            ]
            if m.kind == "ratio":
                d = per_unit.c[f"{m.name}__d"]
                agg += [
                    func.sum(d).label(f"{m.name}__sd"),
                    func.sum(d * d).label(f"{m.name}__sdd"),
                    func.sum(y * d).label(f"{m.name}__syd"),
                ]
            else:
                agg += [literal(0.0).label(f"{m.name}__{f}") for f in ("sd", "sdd", "syd")]
        keys = [per_unit.c.variant, per_unit.c.phase, per_unit.c.day]
        sums = pd.DataFrame(conn.execute(select(*keys, *agg).group_by(*keys)).mappings().all())
        counts_q = select(a.c.variant, a.c.phase, day, func.count().label("n")).where(*a_conds)
        counts = pd.DataFrame(conn.execute(counts_q.group_by(a.c.variant, a.c.phase, day)).mappings().all())
    finally:
        if conn_ctx is not None:
            conn_ctx.__exit__(None, None, None)
    columns = ["variant", "phase", "day", "n"] + [f"{m.name}__{f}" for m in ms for f in SUM_FIELDS]
    if counts.empty:
        return pd.DataFrame(columns=columns)
    df = counts.merge(sums, on=["variant", "phase", "day"], how="left") if len(sums) else counts
    df = df.reindex(columns=columns).fillna({c: 0.0 for c in columns[4:]})
    df["day"] = pd.to_datetime(df["day"].astype(str)).dt.date
    for c in columns[3:]:
        df[c] = df[c].astype(float)
    df["n"] = df["n"].astype(int)
    return df[columns].sort_values(["day", "phase", "variant"]).reset_index(drop=True)
