"""Market intelligence from assessments: job sectors by volume, AI concern (risk-level mix) by industry and
job title, the change against the previous period with a chi-square test of the mix, and emerging job titles.

Periods: the current period is ``[end - N days, end)`` and the previous one the N days before it. Counts are
aggregated in SQL (``GROUP BY`` industry/job title, risk level, period).

Tests: the risk-level mix is compared between the two periods by Pearson's chi-square test of independence
on the 2 x 3 table (``scipy.stats.chi2_contingency``, no continuity correction); ``changed`` stays False with
a note when an expected count is below 5 or a period has no assessment. A job title is *emerging* when its
share of assessments grew and a two-sided exact binomial test (the conditional test of two Poisson rates:
the current count out of both periods' counts, null proportion = the current period's share of all
assessments) rejects at ``alpha``. Shares carry Wilson intervals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection, Engine
from statsmodels.stats.proportion import proportion_confint

from analytics.errors import InvalidParameterError
from analytics.ltv.queries import connect
from analytics.schema import assessments
from analytics.storage import to_naive_utc

__all__ = ["MarketIntelligence", "MixChange", "market_intelligence"]

RISK_LEVELS = ("low", "medium", "high")


@dataclass(frozen=True)
class MixChange:
    """Chi-square test of the risk-level mix, current vs previous period."""

    statistic: float
    p_value: float
    dof: int
    changed: bool
    note: str = ""


@dataclass(frozen=True)
class MarketIntelligence:
    """Result of :func:`market_intelligence` (plain DataFrames, one row per industry or job title)."""

    start: dt.datetime
    end: dt.datetime
    previous_start: dt.datetime
    total_assessments: int
    previous_total: int
    industries: pd.DataFrame
    job_titles: pd.DataFrame
    mix_change: MixChange
    industry_mix_change: pd.DataFrame
    emerging_titles: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)


def _counts(
    conn: Connection, key: str, prev: dt.datetime, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    a = assessments
    period = case((a.c.created_at >= start, "current"), else_="previous").label("period")
    stmt = (
        select(
            a.c[key],
            a.c.risk_level,
            period,
            func.count(),
            func.sum(a.c.risk_score),
            func.count(a.c.risk_score),
        )
        .where(a.c.created_at >= prev, a.c.created_at < end)
        .group_by(a.c[key], a.c.risk_level, period)
    )
    rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=[key, "risk_level", "period", "n", "score_sum", "score_n"])


def _chi2(table: np.ndarray, alpha: float) -> MixChange:
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return MixChange(
            float("nan"), float("nan"), 0, False, "a period has no assessment or one risk level only"
        )
    chi2, p, dof, expected = stats.chi2_contingency(table, correction=False)
    note = "expected count below 5: chi-square approximation unreliable" if (expected < 5).any() else ""
    return MixChange(float(chi2), float(p), int(dof), bool(p < alpha and not note), note)


def _profile(df: pd.DataFrame, key: str, total: int, level: float) -> pd.DataFrame:
    cur = df[df["period"] == "current"]
    prev = df[df["period"] == "previous"]
    n = cur.groupby(key)["n"].sum()
    n_prev = prev.groupby(key)["n"].sum().reindex(n.index, fill_value=0)
    mix = cur.pivot_table(index=key, columns="risk_level", values="n", aggfunc="sum", fill_value=0)
    mix = mix.reindex(columns=list(RISK_LEVELS), fill_value=0).reindex(n.index, fill_value=0)
    score = cur.groupby(key)["score_sum"].sum() / cur.groupby(key)["score_n"].sum().replace(0, np.nan)
    lo, hi = proportion_confint(mix["high"], n, alpha=1 - level, method="wilson")
    out = pd.DataFrame(
        {
            "assessments": n,
            "share": n / total if total else np.nan,
            "previous_assessments": n_prev,
            "change": (n - n_prev) / n_prev.replace(0, np.nan),
            **{f"{r}_share": mix[r] / n for r in RISK_LEVELS},
            "high_share_low": lo,
            "high_share_high": hi,
            "mean_risk_score": score.reindex(n.index),
        }
    )
    return out.sort_values("assessments", ascending=False)


def market_intelligence(
    source: Engine | Connection,
    *,
    end: Any = None,
    time_period_days: int = 30,
    alpha: float = 0.05,
    level: float = 0.95,
    min_count: int = 5,
) -> MarketIntelligence:
    """Sector volumes, risk mix, period-over-period change and emerging titles (see the module docstring).

    Parameters
    ----------
    source:
        Database engine or connection.
    end:
        End of the current period (exclusive; default now, UTC).
    time_period_days:
        Length N of each period in days (>= 1).
    alpha, level:
        Test level and interval confidence.
    min_count:
        Job titles with fewer assessments over both periods are not tested for emergence.
    """
    if int(time_period_days) != time_period_days or time_period_days < 1:
        raise InvalidParameterError(
            "time_period_days", f"'time_period_days' must be a whole number >= 1 (got {time_period_days!r})"
        )
    end_t = to_naive_utc(end if end is not None else dt.datetime.now(dt.UTC), "end")
    start = end_t - dt.timedelta(days=int(time_period_days))
    prev = start - dt.timedelta(days=int(time_period_days))
    with connect(source) as conn:
        by_ind = _counts(conn, "industry", prev, start, end_t)
        by_job = _counts(conn, "job_title", prev, start, end_t)
    total = int(by_ind.loc[by_ind["period"] == "current", "n"].sum())
    prev_total = int(by_ind.loc[by_ind["period"] == "previous", "n"].sum())
    notes = [] if total else ["no assessment in the current period"]

    def mix_table(df: pd.DataFrame) -> np.ndarray:
        pv = df.pivot_table(index="period", columns="risk_level", values="n", aggfunc="sum", fill_value=0)
        pv = pv.reindex(index=["previous", "current"], columns=list(RISK_LEVELS), fill_value=0)
        return pv.to_numpy(dtype=float)

    overall = _chi2(mix_table(by_ind), alpha)
    per_ind = []
    for ind, grp in by_ind.groupby("industry"):
        mc = _chi2(mix_table(grp), alpha)
        per_ind.append(
            {
                "industry": ind,
                "chi2": mc.statistic,
                "p_value": mc.p_value,
                "changed": mc.changed,
                "note": mc.note,
            }
        )
    industry_mix = pd.DataFrame(
        per_ind, columns=["industry", "chi2", "p_value", "changed", "note"]
    ).set_index("industry")
    jobs = _profile(by_job, "job_title", total, level)
    frac = total / (total + prev_total) if total + prev_total else np.nan
    emerging = []
    for title, row in jobs.iterrows():
        k, m = int(row["assessments"]), int(row["assessments"] + row["previous_assessments"])
        if m < min_count or not np.isfinite(frac):
            continue
        p = stats.binomtest(k, m, frac).pvalue
        if k / m > frac and p < alpha:
            emerging.append(
                {
                    "job_title": title,
                    "assessments": k,
                    "previous_assessments": m - k,
                    "rate_ratio": (k / total) / ((m - k) / prev_total) if m > k else np.inf,
                    "p_value": p,
                }
            )
    em = pd.DataFrame(
        emerging, columns=["job_title", "assessments", "previous_assessments", "rate_ratio", "p_value"]
    )
    return MarketIntelligence(
        start=start,
        end=end_t,
        previous_start=prev,
        total_assessments=total,
        previous_total=prev_total,
        industries=_profile(by_ind, "industry", total, level),
        job_titles=jobs,
        mix_change=overall,
        industry_mix_change=industry_mix,
        emerging_titles=em.set_index("job_title").sort_values("p_value"),
        notes=tuple(notes),
    )
