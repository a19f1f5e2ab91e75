"""Lead-source comparison: calculator leads vs newsletter, webinar and organic signups.

A lead is a person with a ``lead_captured`` event in ``[start_date, end_date)``; their lead source is that of
their first such event. Per source: leads, conversion to paid (a ``payment_succeeded`` of the person up to
``end_date``, before or after the capture — calculator leads often pay in the same session), time to convert
(first payment minus capture, floored at 0, in days) and revenue per lead (all revenue events up to
``end_date``). Intervals: Wilson for the conversion rate, t intervals for the mean time to convert and the
revenue per lead. Significance: Pearson's chi-square test of independence of source x converted over all
sources, and each source against the reference (``calculator``) by a two-proportion z test with Holm's
correction (Holm 1979), plus Welch's t test of revenue per lead.

Per-lead rows (one per lead: source, converted, days to convert, revenue) are aggregated in SQL; only one row
per lead is returned, never events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from analytics.ltv.queries import connect, first_value_per_person, person_revenue, segment_source
from analytics.storage import check_period

__all__ = ["LeadComparison", "compare_lead_sources", "lead_rows"]


@dataclass(frozen=True)
class LeadComparison:
    """Result of :func:`compare_lead_sources`.

    Attributes
    ----------
    by_source:
        One row per lead source: leads, converted, conversion_rate (+ low/high), mean/median days to convert
        (+ interval of the mean), revenue_per_lead (+ low/high).
    vs_reference:
        Each other source against the reference: difference in conversion rate, z, raw and Holm-adjusted p,
        Welch t and p of revenue per lead.
    chi2, chi2_p_value, chi2_dof:
        Test of independence of source and conversion over all sources (NaN with ``note`` when undefined).
    """

    by_source: pd.DataFrame
    vs_reference: pd.DataFrame
    chi2: float
    chi2_p_value: float
    chi2_dof: int
    reference: str
    note: str = ""


def lead_rows(source: Engine | Connection, *, start_date: Any, end_date: Any) -> pd.DataFrame:
    """One row per lead: ``person, lead_source, captured_at, converted, days_to_convert, revenue``."""
    start, end = check_period(start_date, end_date)
    leads = first_value_per_person(segment_source("lead_source", start, end)).subquery("leads")
    rev = person_revenue(end).subquery("rev")
    stmt = select(leads.c.person, leads.c.value, leads.c.ts, rev.c.first_paid_at, rev.c.revenue).select_from(
        leads.outerjoin(rev, rev.c.person == leads.c.person)
    )
    with connect(source) as conn:
        rows = conn.execute(stmt).all()
    df = pd.DataFrame(rows, columns=["person", "lead_source", "captured_at", "first_paid_at", "revenue"])
    captured = pd.to_datetime(df["captured_at"])
    paid = pd.to_datetime(df["first_paid_at"])
    df["converted"] = paid.notna()
    df["days_to_convert"] = ((paid - captured).dt.total_seconds() / 86400).clip(lower=0)
    df["revenue"] = df["revenue"].astype(float).fillna(0.0)
    return df.drop(columns="first_paid_at")


def _t_interval(x: np.ndarray, level: float) -> tuple[float, float, float]:
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(np.mean(x))
    if x.size < 2:
        return m, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size)
    return m, m - half, m + half


def compare_lead_sources(
    source: Engine | Connection | pd.DataFrame,
    *,
    start_date: Any = None,
    end_date: Any = None,
    reference: str = "calculator",
    level: float = 0.95,
) -> LeadComparison:
    """Compare lead sources (method in the module docstring).

    ``source`` is a database (then ``start_date`` and ``end_date`` are required) or :func:`lead_rows` output.
    """
    rows = (
        source
        if isinstance(source, pd.DataFrame)
        else lead_rows(source, start_date=start_date, end_date=end_date)
    )
    table = []
    for name, g in rows.groupby("lead_source"):
        n, k = len(g), int(g["converted"].sum())
        lo, hi = proportion_confint(k, n, alpha=1 - level, method="wilson")
        ttc = g.loc[g["converted"], "days_to_convert"].to_numpy(dtype=float)
        ttc_m, ttc_lo, ttc_hi = _t_interval(ttc, level)
        rpl, rpl_lo, rpl_hi = _t_interval(g["revenue"].to_numpy(dtype=float), level)
        table.append(
            {
                "lead_source": name,
                "leads": n,
                "converted": k,
                "conversion_rate": k / n,
                "conversion_low": lo,
                "conversion_high": hi,
                "mean_days_to_convert": ttc_m,
                "days_to_convert_low": ttc_lo,
                "days_to_convert_high": ttc_hi,
                "median_days_to_convert": float(np.median(ttc)) if ttc.size else float("nan"),
                "revenue_per_lead": rpl,
                "revenue_per_lead_low": rpl_lo,
                "revenue_per_lead_high": rpl_hi,
            }
        )
    by_source = pd.DataFrame(table).set_index("lead_source") if table else pd.DataFrame()
    note = ""
    chi2 = p_chi = float("nan")
    dof = 0
    if len(by_source) >= 2 and 0 < by_source["converted"].sum() < by_source["leads"].sum():
        ct = np.column_stack([by_source["converted"], by_source["leads"] - by_source["converted"]])
        chi2_, p_chi_, dof, expected = stats.chi2_contingency(ct, correction=False)
        chi2, p_chi = float(chi2_), float(p_chi_)
        if (expected < 5).any():
            note = "expected count below 5: chi-square approximation unreliable"
    else:
        note = "fewer than two sources, or no variation in conversion: chi-square test undefined"
    comps = []
    if reference in by_source.index:
        ref = by_source.loc[reference]
        ref_rev = rows.loc[rows["lead_source"] == reference, "revenue"].to_numpy(dtype=float)
        for name, row in by_source.drop(index=reference).iterrows():
            counts = np.array([row["converted"], ref["converted"]])
            nobs = np.array([row["leads"], ref["leads"]])
            if counts.sum() in (0, nobs.sum()):
                z, p = float("nan"), float("nan")
            else:
                z, p = proportions_ztest(counts, nobs)
            rev = rows.loc[rows["lead_source"] == name, "revenue"].to_numpy(dtype=float)
            t, pt = (
                stats.ttest_ind(rev, ref_rev, equal_var=False)
                if rev.size > 1 and ref_rev.size > 1
                else (np.nan, np.nan)
            )
            comps.append(
                {
                    "lead_source": name,
                    "conversion_diff": row["conversion_rate"] - ref["conversion_rate"],
                    "z": float(z),
                    "p_value": float(p),
                    "revenue_diff": row["revenue_per_lead"] - ref["revenue_per_lead"],
                    "welch_t": float(t),
                    "revenue_p_value": float(pt),
                }
            )
    vs = pd.DataFrame(
        comps,
        columns=[
            "lead_source",
            "conversion_diff",
            "z",
            "p_value",
            "revenue_diff",
            "welch_t",
            "revenue_p_value",
        ],
    ).set_index("lead_source")
    ok = vs["p_value"].notna()
    vs["p_holm"] = np.nan
    if ok.any():
        vs.loc[ok, "p_holm"] = multipletests(vs.loc[ok, "p_value"], method="holm")[1]
    return LeadComparison(by_source, vs, chi2, p_chi, int(dof), reference, note)
