"""The seed's ``ai_calculator_bi`` object: thin wrappers returning plain (JSON-ready) data.

>>> from analytics.bi import ai_calculator_bi                      # doctest: +SKIP
>>> ai_calculator_bi.analyze_cohorts(start_date=..., end_date=...)  # doctest: +SKIP

Every method reads from the read database (:func:`analytics.db.get_read_engine`) unless the object was built
with an engine; the statistics live in :mod:`analytics.cohorts`, :mod:`analytics.ltv`,
:mod:`analytics.market`, :mod:`analytics.leads` and :mod:`analytics.weekly`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from analytics.cohort_revenue import cohort_revenue
from analytics.cohorts import retention_matrix
from analytics.leads import compare_lead_sources
from analytics.ltv.historical import ltv_by_segment
from analytics.ltv.queries import REVENUE_EVENTS
from analytics.market import market_intelligence
from analytics.weekly import generate_weekly_report

__all__ = ["BusinessIntelligence", "ai_calculator_bi", "records"]


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame → list of dicts with NaN as None and timestamps as ISO strings."""
    out = df.reset_index()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
        for r in out.astype(object).to_dict("records")
    ]


def _matrix(df: pd.DataFrame) -> list[list[float | None]]:
    return [[None if not np.isfinite(v) else float(v) for v in row] for row in df.to_numpy(dtype=float)]


def _default_period(start_date: Any, end_date: Any, days: int) -> tuple[Any, Any]:
    end = end_date if end_date is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)
    start = start_date if start_date is not None else pd.Timestamp(end) - pd.Timedelta(days=days)
    return start, end


class BusinessIntelligence:
    """Business-intelligence entry points of the seed (plain-data results)."""

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The engine given, else the configured read engine."""
        if self._engine is None:
            from analytics.db import get_read_engine

            return get_read_engine()
        return self._engine

    def generate_weekly_report(self, as_of: Any = None, week_start: str = "monday") -> dict[str, Any]:
        """The weekly KPI report (:func:`analytics.weekly.generate_weekly_report`) as plain data."""
        return generate_weekly_report(self.engine, as_of=as_of, week_start=week_start).to_dict()

    def analyze_cohorts(
        self,
        start_date: Any = None,
        end_date: Any = None,
        period: str = "week",
        cohort_type: str = "first_time",
    ) -> dict[str, Any]:
        """Retention (any calculator visit), paying share (a revenue event), conversion and revenue by cohort of
        first visit (:func:`analytics.cohorts.retention_matrix`, :func:`analytics.cohort_revenue.cohort_revenue`).

        ``cumulative_revenue_per_user`` and ``conversion_rates`` are cohort x period matrices (None where the
        period is not yet observable); ``cohort_summary`` has each cohort's conversion and revenue per user to
        date with 95 % intervals. Revenue is always by first-time cohort, whatever ``cohort_type``.
        """
        start, end = _default_period(start_date, end_date, 90)
        kw = {
            "start_date": start,
            "end_date": end,
            "period": period,
            "cohort_type": cohort_type,
            "target_event": "ai_calculator_opened",
        }
        active = retention_matrix(self.engine, **kw)
        paying = retention_matrix(self.engine, returning_event=list(REVENUE_EVENTS), **kw)
        revenue = cohort_revenue(self.engine, start_date=start, end_date=end, period=period)
        return {
            "period": period,
            "cohorts": [d.strftime("%Y-%m-%d") for d in active.sizes.index],
            "cohort_sizes": [int(v) for v in active.sizes],
            "active_rates": _matrix(active.rates),
            "active_rates_or_later": _matrix(active.rates_or_later),
            "paying_rates": _matrix(paying.rates),
            "conversion_rates": _matrix(revenue.conversion_rate),
            "cumulative_revenue_per_user": _matrix(revenue.cumulative_revenue_per_user),
            "cohort_summary": records(revenue.summary),
            "notes": list(active.notes),
        }

    def get_market_intelligence(self, time_period_days: int = 30, end: Any = None) -> dict[str, Any]:
        """Sector volumes, risk mix, change test and emerging titles as plain data."""
        m = market_intelligence(self.engine, end=end, time_period_days=time_period_days)
        return {
            "start": m.start.isoformat(),
            "end": m.end.isoformat(),
            "total_assessments": m.total_assessments,
            "previous_total": m.previous_total,
            "industries": records(m.industries),
            "job_titles": records(m.job_titles),
            "mix_change": {
                "chi2": m.mix_change.statistic,
                "p_value": m.mix_change.p_value,
                "changed": m.mix_change.changed,
                "note": m.mix_change.note,
            },
            "emerging_titles": records(m.emerging_titles),
            "notes": list(m.notes),
        }

    def get_ltv_by_segments(
        self, segment: str = "risk_level", start_date: Any = None, end_date: Any = None
    ) -> list[dict[str, Any]]:
        """Historical LTV by segment with intervals (:func:`analytics.ltv.ltv_by_segment`)."""
        start, end = _default_period(start_date, end_date, 90)
        return records(ltv_by_segment(self.engine, segment=segment, start_date=start, end_date=end))

    def compare_lead_sources(self, start_date: Any = None, end_date: Any = None) -> dict[str, Any]:
        """Lead-source comparison with intervals and tests (:func:`analytics.leads.compare_lead_sources`)."""
        start, end = _default_period(start_date, end_date, 90)
        c = compare_lead_sources(self.engine, start_date=start, end_date=end)
        return {
            "by_source": records(c.by_source),
            "vs_reference": records(c.vs_reference),
            "chi2": c.chi2,
            "chi2_p_value": c.chi2_p_value,
            "reference": c.reference,
            "note": c.note,
        }


ai_calculator_bi = BusinessIntelligence()
