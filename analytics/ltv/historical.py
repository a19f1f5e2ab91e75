"""Historical (realised) lifetime value by segment, aggregated in the database.

Population: the people whose segment-defining event (their first, see :func:`analytics.ltv.queries
.segment_source`) falls in ``[start_date, end_date)``; each keeps that first value. Their revenue is every
``payment_succeeded``/``subscription_renewed`` amount up to ``end_date`` (revenue to date, also before the
defining event). Per segment:

* **paying share** ``k / n`` with a Wilson score interval (Wilson 1927);
* **revenue per user** ``sum R_i / n`` with a t interval from the per-person sum of squares (central limit
  theorem; revenue is skewed, so the interval needs the tens of payers per segment reported in ``payers``);
* **average order value** ``sum R_i / sum O_i``, a ratio estimator whose interval uses the delta method over
  people (``var = var(R_i - AOV O_i) / (n O-bar^2)``), so orders of one person are not treated as independent.

Only per-segment sums (n, payers, sum R, sum R^2, sum O, sum O^2, sum R O) leave the database.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.engine import Connection, Engine
from statsmodels.stats.proportion import proportion_confint

from analytics.ltv.queries import connect, first_value_per_person, person_revenue, segment_source
from analytics.storage import check_period

__all__ = ["ltv_by_segment", "segment_ltv_table"]


def segment_ltv_table(sums: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Turn per-segment sums into estimates with intervals (formulas in the module docstring).

    ``sums`` has index = segment and columns ``users, payers, revenue, revenue_sq, orders, orders_sq,
    revenue_orders``.
    """
    n = sums["users"].astype(float)
    k = sums["payers"].astype(float)
    s, ss = sums["revenue"].astype(float), sums["revenue_sq"].astype(float)
    o, oo, ro = (
        sums["orders"].astype(float),
        sums["orders_sq"].astype(float),
        sums["revenue_orders"].astype(float),
    )
    lo, hi = proportion_confint(k, n, alpha=1 - level, method="wilson")
    mean = s / n
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(n > 1, (ss - s * s / n) / (n - 1), np.nan)
        tq = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
        half = tq * np.sqrt(np.maximum(var, 0) / n)
        aov = np.where(o > 0, s / o, np.nan)
        # delta method: d_i = R_i - aov O_i; var(d) from the sums; se = sqrt(var(d)/n) / mean(O)
        sum_d2 = ss - 2 * aov * ro + aov**2 * oo
        var_d = np.where(n > 1, sum_d2 / (n - 1), np.nan)  # sum of d_i is 0 by construction
        se_aov = np.sqrt(np.maximum(var_d, 0) / n) / (o / n)
    z = stats.norm.ppf(0.5 + level / 2)
    out = pd.DataFrame(
        {
            "users": n.astype(int),
            "payers": k.astype(int),
            "paying_share": k / n,
            "paying_share_low": lo,
            "paying_share_high": hi,
            "revenue": s,
            "revenue_per_user": mean,
            "revenue_per_user_low": mean - half,
            "revenue_per_user_high": mean + half,
            "orders": o.astype(int),
            "aov": aov,
            "aov_low": aov - z * se_aov,
            "aov_high": aov + z * se_aov,
        },
        index=sums.index,
    )
    out["note"] = np.where(
        o == 0, "no orders: average order value undefined", np.where(n < 2, "one user: no interval", "")
    )
    return out.sort_values("revenue_per_user", ascending=False)


def ltv_by_segment(
    source: Engine | Connection,
    *,
    segment: str = "risk_level",
    start_date: Any,
    end_date: Any,
    level: float = 0.95,
) -> pd.DataFrame:
    """Revenue per user, paying share and average order value by segment, with intervals.

    Parameters
    ----------
    source:
        Database engine or connection.
    segment:
        One of :data:`analytics.ltv.queries.SEGMENTS` (risk_level, industry, job_title, country, source,
        medium, lead_source, device).
    start_date, end_date:
        Defining-event window ``[start, end)``; revenue counts up to ``end_date``.

    Returns
    -------
    pandas.DataFrame
        Indexed by segment value; see :func:`segment_ltv_table` for the columns.
    """
    start, end = check_period(start_date, end_date)
    seg = first_value_per_person(segment_source(segment, start, end)).subquery("seg")
    rev = person_revenue(end).subquery("rev")
    r = func.coalesce(cast(rev.c.revenue, Float), 0.0)
    o = cast(func.coalesce(rev.c.orders, 0), Float)
    stmt = (
        select(
            seg.c.value,
            func.count(),
            func.sum(case((rev.c.orders > 0, 1), else_=0)),
            func.sum(r),
            func.sum(r * r),
            func.sum(o),
            func.sum(o * o),
            func.sum(r * o),
        )
        .select_from(seg.outerjoin(rev, rev.c.person == seg.c.person))
        .group_by(seg.c.value)
    )
    with connect(source) as conn:
        rows = conn.execute(stmt).all()
    cols = ["users", "payers", "revenue", "revenue_sq", "orders", "orders_sq", "revenue_orders"]
    sums = pd.DataFrame(
        [[float(v or 0) for v in row[1:]] for row in rows],
        columns=cols,
        index=pd.Index([row[0] for row in rows], name=segment),
    )
    if sums.empty:
        return segment_ltv_table(sums.astype(float), level)
    return segment_ltv_table(sums, level)
