"""The read-only resources: dashboard and reports, each a cached :class:`QueryResource` over a seed object.

Backends: :class:`analytics.dashboard.AICalculatorDashboard` (the seed's ``ai_calculator_dashboard``) and
:class:`analytics.bi.BusinessIntelligence` (``ai_calculator_bi``), both on the read database.
"""

from __future__ import annotations

from typing import Any

from analytics.bi import BusinessIntelligence
from analytics.dashboard import AICalculatorDashboard
from ingest_service.api.base import ApiContext
from ingest_service.api.params import Parser, choice, date_param, whole

__all__ = ["DASHBOARD", "REPORTS"]

_PERIOD: dict[str, Parser] = {"start_date": date_param, "end_date": date_param}
FUNNEL_BREAKDOWNS = ("source", "medium", "campaign", "device", "country")
CONVERSION_BY = ("risk_level", "demographics", "country", "region")
REVENUE_BY = ("source", "medium", "campaign")
LTV_SEGMENTS = ("risk_level", "industry", "job_title", "country", "source", "medium", "lead_source", "device")


def _dash(ctx: ApiContext) -> AICalculatorDashboard:
    return AICalculatorDashboard(database_url=ctx.read_url)


def _bi(ctx: ApiContext) -> BusinessIntelligence:
    return BusinessIntelligence(ctx.read_engine())


def _period(p: dict[str, Any]) -> tuple[Any, Any]:
    return p.get("start_date"), p.get("end_date")


def _funnel(ctx: ApiContext, p: dict[str, Any]) -> Any:
    return _dash(ctx).get_calculator_funnel(*_period(p), breakdown=p.get("breakdown"))


def _conversions(ctx: ApiContext, p: dict[str, Any]) -> Any:
    by = p.get("by", "risk_level")
    d = _dash(ctx)
    if by == "risk_level":
        return d.get_conversion_rates_by_risk_level(*_period(p))
    if by == "demographics":
        return d.get_conversion_rates_by_demographics(*_period(p))
    return d.get_geographic_distribution(*_period(p), level=by)


def _popular(ctx: ApiContext, p: dict[str, Any]) -> Any:
    return _dash(ctx).get_popular_content(*_period(p), limit=p.get("limit", 20))


def _revenue(ctx: ApiContext, p: dict[str, Any]) -> Any:
    return _dash(ctx).get_revenue_attribution(*_period(p), by=p.get("by", "source"))


def _weekly(ctx: ApiContext, p: dict[str, Any]) -> Any:
    return _bi(ctx).generate_weekly_report(as_of=p.get("as_of"), week_start=p.get("week_start", "monday"))


def _cohorts(ctx: ApiContext, p: dict[str, Any]) -> Any:
    return _bi(ctx).analyze_cohorts(*_period(p), period=p.get("period", "week"),
                                    cohort_type=p.get("cohort_type", "first_time"))  # fmt: skip


def _ltv(ctx: ApiContext, p: dict[str, Any]) -> Any:
    return _bi(ctx).get_ltv_by_segments(segment=p.get("segment", "risk_level"), start_date=p.get("start_date"),
                                        end_date=p.get("end_date"))  # fmt: skip


def _market(ctx: ApiContext, p: dict[str, Any]) -> Any:
    return _bi(ctx).get_market_intelligence(time_period_days=p.get("time_period_days", 30), end=p.get("end_date"))


def _leads(ctx: ApiContext, p: dict[str, Any]) -> Any:
    return _bi(ctx).compare_lead_sources(*_period(p))


#: path suffix → (query parameters, backend call); served under ``/api/analytics/dashboard/``.
DASHBOARD = {
    "funnel": ({**_PERIOD, "breakdown": choice(FUNNEL_BREAKDOWNS)}, _funnel),
    "conversions": ({**_PERIOD, "by": choice(CONVERSION_BY)}, _conversions),
    "popular": ({**_PERIOD, "limit": whole(1, 100)}, _popular),
    "revenue": ({**_PERIOD, "by": choice(REVENUE_BY)}, _revenue),
}
#: path suffix → (query parameters, backend call); served under ``/api/analytics/reports/``.
REPORTS = {
    "weekly": ({"as_of": date_param, "week_start": choice(("monday", "sunday"))}, _weekly),
    "cohorts": ({**_PERIOD, "period": choice(("day", "week", "month")),
                 "cohort_type": choice(("first_time", "recurring"))}, _cohorts),  # fmt: skip
    "ltv": ({**_PERIOD, "segment": choice(LTV_SEGMENTS)}, _ltv),
    "market-intelligence": ({"time_period_days": whole(1, 366), "end_date": date_param}, _market),
    "lead-comparison": (dict(_PERIOD), _leads),
}
