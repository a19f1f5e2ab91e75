"""The seed's "Custom Analytics Dashboard": conversions, popular content, geography and the seed API object.

Every table is aggregated in SQL (``GROUP BY``) so memory does not grow with the number of events; proportions
carry Wilson score intervals (Wilson 1927, J. Am. Stat. Assoc. 22:209–212), which keep their coverage for small
counts and rates near 0 or 1 where the normal (Wald) interval fails (Brown, Cai & DasGupta 2001, Stat. Sci. 16:101).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection, Engine
from statsmodels.stats.proportion import proportion_confint

from analytics.errors import InvalidParameterError

__all__ = [
    "CONVERSION_DIMENSIONS",
    "DEMOGRAPHICS",
    "AICalculatorDashboard",
    "ai_calculator_dashboard",
    "conversion_rates",
    "conversion_reading",
    "funnel_reading",
    "conversions_by_demographics",
    "geographic_distribution",
    "popular_content",
    "revenue_attribution",
]

DEMOGRAPHICS = ("age_range", "experience_level", "company_size", "education")
CONVERSION_DIMENSIONS = ("risk_level", *DEMOGRAPHICS, "industry", "job_title", "country", "region")
NOT_SET = "(not set)"


def _run(source: Engine | Connection, stmt) -> list[tuple]:
    if isinstance(source, Engine):
        with source.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt).all()]
    return [tuple(r) for r in source.execute(stmt).all()]


def _wilson(success: np.ndarray, total: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = proportion_confint(success, np.maximum(total, 1), alpha=1 - confidence, method="wilson")
    return np.where(total > 0, lo, np.nan), np.where(total > 0, hi, np.nan)


def conversion_rates(
    source: Engine | Connection,
    start_date: Any,
    end_date: Any,
    *,
    by: str | tuple[str, ...] = "risk_level",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Assessment → paid conversion by an attribute of the assessment, with Wilson intervals.

    A person counts once, with the attributes of their first assessment in ``[start, end)``; they converted when
    they have a ``payment_succeeded`` at or after that assessment and before ``end``.

    Returns
    -------
    pandas.DataFrame
        One row per value of ``by`` (missing → ``(not set)``): ``assessed``, ``converted``, ``conversion_rate``,
        ``ci_low``, ``ci_high``; ``note`` says why a rate is missing.
    """
    from analytics.identity import person_map
    from analytics.schema import analytics_events as ev
    from analytics.schema import assessments as a
    from analytics.storage import check_period

    keys = (by,) if isinstance(by, str) else tuple(by)
    if not keys or any(k not in CONVERSION_DIMENSIONS for k in keys):
        raise InvalidParameterError(
            "by", f"'by' must be one or more of {', '.join(CONVERSION_DIMENSIONS)} (got {by!r})"
        )
    s, e = check_period(start_date, end_date)
    pm = person_map().subquery("pm")
    ranked = (
        select(
            pm.c.person_id,
            a.c.created_at,
            *[func.coalesce(a.c[k], NOT_SET).label(k) for k in keys],
            func.row_number()
            .over(partition_by=pm.c.person_id, order_by=(a.c.created_at, a.c.id))
            .label("rn"),
        )
        .join(pm, pm.c.session_id == a.c.session_id)
        .where(a.c.created_at >= s, a.c.created_at < e)
        .subquery("ranked")
    )
    first = select(ranked).where(ranked.c.rn == 1).subquery("first")
    paid = (
        select(pm.c.person_id, func.max(ev.c.timestamp).label("last_paid"))
        .join(pm, pm.c.session_id == ev.c.session_id)
        .where(ev.c.event_type == "payment_succeeded", ev.c.timestamp >= s, ev.c.timestamp < e)
        .group_by(pm.c.person_id)
        .subquery("paid")
    )
    converted = case(
        (and_(paid.c.last_paid.is_not(None), paid.c.last_paid >= first.c.created_at), 1), else_=0
    )
    stmt = (
        select(
            *[first.c[k] for k in keys],
            func.count().label("assessed"),
            func.sum(converted).label("converted"),
        )
        .select_from(first.outerjoin(paid, paid.c.person_id == first.c.person_id))
        .group_by(*[first.c[k] for k in keys])
    )
    frame = pd.DataFrame(_run(source, stmt), columns=[*keys, "assessed", "converted"])
    return _with_rates(frame, "assessed", "converted", confidence).sort_values(list(keys), ignore_index=True)


def _with_rates(frame: pd.DataFrame, total: str, success: str, confidence: float) -> pd.DataFrame:
    frame[total] = frame[total].astype("int64")
    frame[success] = frame[success].fillna(0).astype("int64")
    n, k = frame[total].to_numpy(), frame[success].to_numpy()
    frame["conversion_rate"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    frame["ci_low"], frame["ci_high"] = _wilson(k, n, confidence)
    frame["note"] = np.where(n > 0, "", "no assessments")
    return frame


def conversions_by_demographics(
    source: Engine | Connection, start_date: Any, end_date: Any, *, confidence: float = 0.95
) -> pd.DataFrame:
    """:func:`conversion_rates` for every demographic the calculator collects, stacked (``dimension, value``)."""
    parts = []
    for dim in DEMOGRAPHICS:
        t = conversion_rates(source, start_date, end_date, by=dim, confidence=confidence)
        parts.append(t.rename(columns={dim: "value"}).assign(dimension=dim))
    out = pd.concat(parts, ignore_index=True)
    return out[["dimension", "value", *[c for c in out.columns if c not in ("dimension", "value")]]]


def popular_content(
    source: Engine | Connection, start_date: Any, end_date: Any, *, by: str = "job_title", top: int = 20
) -> pd.DataFrame:
    """Most assessed job titles (or industries) with their risk-level mix and the trend vs the previous period.

    Returns
    -------
    pandas.DataFrame
        ``value, assessments, share, low, medium, high`` (shares of each risk level), ``previous`` (assessments
        in the period of equal length just before) and ``change`` (relative; missing when ``previous`` is 0, see
        ``note``), the ``top`` values by assessments.
    """
    from analytics.schema import assessments as a
    from analytics.storage import check_period

    if by not in ("job_title", "industry"):
        raise InvalidParameterError("by", f"'by' must be job_title or industry (got {by!r})")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise InvalidParameterError("top", f"'top' must be a positive integer (got {top!r})")
    s, e = check_period(start_date, end_date)
    p = s - (e - s)
    cur = and_(a.c.created_at >= s, a.c.created_at < e)
    value = func.coalesce(a.c[by], NOT_SET)
    stmt = (
        select(
            value.label("value"),
            func.sum(case((cur, 1), else_=0)).label("assessments"),
            *[
                func.sum(case((and_(cur, a.c.risk_level == r), 1), else_=0)).label(r)
                for r in ("low", "medium", "high")
            ],
            func.sum(case((a.c.created_at < s, 1), else_=0)).label("previous"),
        )
        .where(a.c.created_at >= p, a.c.created_at < e)
        .group_by(value)
    )
    cols = ["value", "assessments", "low", "medium", "high", "previous"]
    frame = pd.DataFrame(_run(source, stmt), columns=cols)
    for c in cols[1:]:
        frame[c] = frame[c].fillna(0).astype("int64")
    frame = frame[frame["assessments"] > 0]
    total = frame["assessments"].sum()
    frame["share"] = frame["assessments"] / total if total else np.nan
    for r in ("low", "medium", "high"):
        frame[r] = frame[r] / frame["assessments"]
    prev = frame["previous"].to_numpy()
    frame["change"] = np.where(prev > 0, frame["assessments"] / np.maximum(prev, 1) - 1, np.nan)
    frame["note"] = np.where(prev > 0, "", "no assessments in the previous period")
    frame = frame.sort_values(["assessments", "value"], ascending=[False, True]).head(top)
    return frame[
        ["value", "assessments", "share", "low", "medium", "high", "previous", "change", "note"]
    ].reset_index(drop=True)


def geographic_distribution(
    source: Engine | Connection,
    start_date: Any,
    end_date: Any,
    *,
    level: str = "country",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Assessments and assessment → paid conversion by country (ISO 3166-1 alpha-2) or by country and region."""
    if level not in ("country", "region"):
        raise InvalidParameterError("level", f"'level' must be country or region (got {level!r})")
    by = ("country",) if level == "country" else ("country", "region")
    t = conversion_rates(source, start_date, end_date, by=by, confidence=confidence)
    total = t["assessed"].sum()
    t.insert(len(by) + 1, "share", t["assessed"] / total if total else np.nan)
    return t.sort_values(["assessed", *by], ascending=[False, *[True] * len(by)], ignore_index=True)


def revenue_attribution(
    source: Engine | Connection,
    start_date: Any,
    end_date: Any,
    *,
    by: str | tuple[str, ...] = "source",
    lookback: timedelta = timedelta(days=30),
    half_life: timedelta = timedelta(days=7),
) -> pd.DataFrame:
    """Revenue in ``[start, end)`` credited to traffic channels by every model (see :func:`analytics.attribution.attribute`)."""
    from analytics.attribution import attribute, load_touches_and_conversions

    touches, conversions = load_touches_and_conversions(source, start_date, end_date, lookback=lookback)
    return attribute(touches, conversions, by=by, lookback=lookback, half_life=half_life)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain JSON-friendly records: NaN → None, numpy scalars → Python."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in clean.to_dict("records")
    ]


@dataclass
class AICalculatorDashboard:
    """The seed's dashboard object: thin wrappers returning plain data (lists of dicts).

    ``database_url`` None → the configured read database (:func:`analytics.db.get_read_engine`).
    """

    database_url: str | None = None

    def _engine(self) -> Engine:
        from analytics.db import get_read_engine

        return get_read_engine(self.database_url)

    def _period(self, start_date: Any, end_date: Any):
        from analytics.period import resolve_period

        return resolve_period(self._engine(), start_date, end_date)

    def get_calculator_funnel(
        self, start_date: Any = None, end_date: Any = None, breakdown: str | None = None
    ):
        """Calculator funnel steps with counts, conversion and drop-off rates (``breakdown``: source/device/...)."""
        from analytics.funnel import calculator_funnel

        p = self._period(start_date, end_date)
        return _records(calculator_funnel(self._engine(), p.start, p.end, breakdown=breakdown).table)

    def get_conversion_rates_by_risk_level(self, start_date: Any = None, end_date: Any = None):
        """Assessment → paid conversion by risk level with 95 % Wilson intervals."""
        p = self._period(start_date, end_date)
        return _records(conversion_rates(self._engine(), p.start, p.end, by="risk_level"))

    def get_conversion_rates_by_demographics(self, start_date: Any = None, end_date: Any = None):
        """Conversion by age range, experience, company size and education."""
        p = self._period(start_date, end_date)
        return _records(conversions_by_demographics(self._engine(), p.start, p.end))

    def get_revenue_attribution(self, start_date: Any = None, end_date: Any = None, by: str = "source"):
        """Revenue by traffic channel under first/last touch, linear, position-based, time-decay and Markov."""
        p = self._period(start_date, end_date)
        return _records(revenue_attribution(self._engine(), p.start, p.end, by=by))

    def get_popular_content(self, start_date: Any = None, end_date: Any = None, limit: int = 20):
        """Most assessed job titles and industries: ``{"job_titles": [...], "industries": [...]}``."""
        p = self._period(start_date, end_date)
        eng = self._engine()
        return {
            "job_titles": _records(popular_content(eng, p.start, p.end, by="job_title", top=limit)),
            "industries": _records(popular_content(eng, p.start, p.end, by="industry", top=limit)),
        }

    def get_geographic_distribution(
        self, start_date: Any = None, end_date: Any = None, level: str = "country"
    ):
        """Assessments and conversion by country (or region)."""
        p = self._period(start_date, end_date)
        return _records(geographic_distribution(self._engine(), p.start, p.end, level=level))


#: The seed's module-level object (``from analytics import ai_calculator_dashboard``).
ai_calculator_dashboard = AICalculatorDashboard()


def funnel_reading(table: pd.DataFrame) -> str:
    """One sentence on a funnel table: overall conversion and the step losing the largest share of people."""
    t = table[table["step"] > 0].dropna(subset=["drop_off_rate"])
    if t.empty:
        return "Nobody entered the funnel in this period."
    if "breakdown" in table.columns:
        first = table[table["step"] == 0]["count"].sum()
        last = table[table["step"] == table["step"].max()]["count"].sum()
        worst = t.groupby("step_name", sort=False)[["drop_off", "count"]].sum()
        worst_rate = worst["drop_off"] / (worst["drop_off"] + worst["count"])
        name, rate = worst_rate.idxmax(), float(worst_rate.max())
    else:
        first, last = int(table["count"].iloc[0]), int(table["count"].iloc[-1])
        row = t.loc[t["drop_off_rate"].idxmax()]
        name, rate = row["step_name"], float(row["drop_off_rate"])
    return (
        f"{last:,} of {first:,} people ({last / first:.1%}) went from the first to the last step; the largest "
        f"drop-off is at '{name}', where {rate:.1%} of those reaching the previous step stop."
    )


def conversion_reading(table: pd.DataFrame, by: str) -> str:
    """One sentence comparing the highest and lowest conversion rates and whether their intervals overlap."""
    t = table.dropna(subset=["conversion_rate"])
    if len(t) < 2:
        return "Fewer than two groups with assessments: nothing to compare."
    hi, lo = t.loc[t["conversion_rate"].idxmax()], t.loc[t["conversion_rate"].idxmin()]
    overlap = hi["ci_low"] <= lo["ci_high"]
    return (
        f"Highest conversion: {by} = {hi[by]} at {hi['conversion_rate']:.1%} "
        f"({hi['converted']}/{hi['assessed']}); lowest: {lo[by]} at {lo['conversion_rate']:.1%} "
        f"({lo['converted']}/{lo['assessed']}). The 95 % intervals "
        + ("overlap, so the difference may be noise." if overlap else "do not overlap.")
    )
