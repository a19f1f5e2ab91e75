"""The weekly KPI report: the week's KPIs against the previous week and the four-week average, flagged only
when the change exceeds the week-to-week noise, plus the top movers among sources, job titles and industries.

KPIs per week (UTC weeks, Monday start by default), aggregated in SQL by week:

* ``sessions``: sessions with ``ai_calculator_opened``; ``completion_rate``: share of them that also submitted
  an assessment; ``assessments``: ``assessment_submitted`` events;
* ``conversion``: share of opened sessions with a ``payment_succeeded`` in the same session;
* ``revenue``: amounts of ``payment_succeeded`` + ``subscription_renewed``; ``new_paying_users``: people whose
  first ``payment_succeeded`` ever falls in the week;
* ``churn``: ``subscription_cancelled`` events / people with a revenue event in the 30 days before the week
  (the monthly subscribers active at its start).

Noise: the standard deviation of the week-to-week differences over the ``history`` weeks before the report
week (at least three differences), or, when there are fewer, the sampling standard error of the difference
(Poisson ``sqrt(x1 + x0)`` for counts, binomial for rates). A KPI is flagged when ``|change| > z * noise``
(``z = 2``). Movers: count changes ranked by ``(c - p) / sqrt(c + p)``, the z score of the difference of two
Poisson counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, select

from analytics.cohorts import period_index_sql, period_starts
from analytics.errors import InvalidParameterError
from analytics.identity import person_map
from analytics.ltv.queries import REVENUE_EVENTS, amount_expr, connect
from analytics.schema import analytics_events, assessments
from analytics.storage import to_naive_utc

__all__ = ["KPIS", "WeeklyReport", "generate_weekly_report", "weekly_kpis"]

KPIS = ("sessions", "completion_rate", "assessments", "conversion", "revenue", "new_paying_users", "churn")
_RATES = {"completion_rate": "sessions", "conversion": "sessions", "churn": "active_subscribers"}
REPORT_LINKS = ("cohorts.html", "ltv.html", "market_intelligence.html", "lead_sources.html")


@dataclass(frozen=True)
class WeeklyReport:
    """Result of :func:`generate_weekly_report`; ``to_dict()`` gives plain JSON-ready data."""

    week_start: dt.datetime
    week_end: dt.datetime
    kpis: pd.DataFrame
    history: pd.DataFrame
    movers: dict[str, pd.DataFrame]
    links: tuple[str, ...] = field(default_factory=tuple)

    def kpi_table(self) -> pd.DataFrame:
        """The KPIs formatted for reading (a report or an e-mail): counts with thousands separators, rates in
        percent, revenue in dollars, relative change in percent, and ``▲``/``▼`` only where the change is flagged
        as larger than the week-to-week noise. Text columns; use :attr:`kpis` for the numbers."""

        def fmt(kpi: str, x: float) -> str:
            if pd.isna(x):
                return "–"
            if kpi in _RATES:
                return f"{x:.1%}"
            if kpi == "revenue":
                return f"${x:,.2f}"
            return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"

        rows = []
        for kpi, r in self.kpis.iterrows():
            arrow = ("▲ " if r["change"] > 0 else "▼ ") if r["flagged"] else ""
            rows.append({
                "KPI": kpi.replace("_", " "),
                "this week": fmt(kpi, r["value"]),
                "previous week": fmt(kpi, r["previous_week"]),
                "change": "–" if pd.isna(r["change_pct"]) else f"{arrow}{r['change_pct']:+.1%}",
                "4-week average": fmt(kpi, r["four_week_avg"]),
            })
        return pd.DataFrame(rows).set_index("KPI")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (ISO dates, lists of records)."""
        return {
            "week_start": self.week_start.date().isoformat(),
            "week_end": self.week_end.date().isoformat(),
            "kpis": self.kpis.reset_index().replace({np.nan: None}).to_dict("records"),
            "movers": {
                k: v.reset_index().replace({np.nan: None}).to_dict("records") for k, v in self.movers.items()
            },
            "links": list(self.links),
        }


def weekly_kpis(
    source: Any, *, first_week: dt.datetime, weeks: int, week_start: str = "monday"
) -> pd.DataFrame:
    """KPI values for ``weeks`` weeks starting at ``first_week`` (a week start), one row per week."""
    end = first_week + dt.timedelta(days=7 * weeks)
    ev = analytics_events
    idx = pd.date_range(first_week, periods=weeks, freq="7D")
    out = pd.DataFrame(
        0.0,
        index=idx,
        columns=[
            "sessions",
            "completed",
            "paid_sessions",
            "assessments",
            "revenue",
            "new_paying_users",
            "cancellations",
            "active_subscribers",
        ],
    )
    with connect(source) as conn:
        k = period_index_sql(conn, ev.c.timestamp, first_week, "week").label("k")
        in_range = and_(ev.c.timestamp >= first_week, ev.c.timestamp < end)
        per_session = (
            select(k, ev.c.session_id, ev.c.event_type)
            .where(
                in_range,
                ev.c.event_type.in_(("ai_calculator_opened", "assessment_submitted", "payment_succeeded")),
            )
            .group_by(k, ev.c.session_id, ev.c.event_type)
            .subquery("ps")
        )
        opened = per_session.alias("o")
        for label, etype in (
            ("sessions", None),
            ("completed", "assessment_submitted"),
            ("paid_sessions", "payment_succeeded"),
        ):
            stmt = select(opened.c.k, func.count()).where(opened.c.event_type == "ai_calculator_opened")
            if etype:
                other = per_session.alias(f"x_{label}")
                stmt = stmt.join(
                    other,
                    and_(
                        other.c.session_id == opened.c.session_id,
                        other.c.k == opened.c.k,
                        other.c.event_type == etype,
                    ),
                )
            for week, n in conn.execute(stmt.group_by(opened.c.k)).all():
                out.iloc[int(week), out.columns.get_loc(label)] = n
        stmt = (
            select(k, ev.c.event_type, func.count(), func.sum(amount_expr()))
            .where(
                in_range,
                ev.c.event_type.in_(("assessment_submitted", "subscription_cancelled", *REVENUE_EVENTS)),
            )
            .group_by(k, ev.c.event_type)
        )
        for week, etype, n, amount in conn.execute(stmt).all():
            if etype == "assessment_submitted":
                out.iloc[int(week), out.columns.get_loc("assessments")] = n
            elif etype == "subscription_cancelled":
                out.iloc[int(week), out.columns.get_loc("cancellations")] = n
            else:
                out.iloc[int(week), out.columns.get_loc("revenue")] += float(amount or 0)
        pm = person_map().subquery("pm")
        firsts = (
            select(func.min(ev.c.timestamp).label("ts"))
            .join(pm, pm.c.session_id == ev.c.session_id)
            .where(ev.c.event_type == "payment_succeeded", ev.c.timestamp < end)
            .group_by(pm.c.person_id)
            .subquery("fp")
        )
        kf = period_index_sql(conn, firsts.c.ts, first_week, "week")
        for week, n in conn.execute(
            select(kf, func.count()).where(firsts.c.ts >= first_week).group_by(kf)
        ).all():
            out.iloc[int(week), out.columns.get_loc("new_paying_users")] = n
        for i, ws in enumerate(idx):
            ws = ws.to_pydatetime()
            stmt = (
                select(func.count(func.distinct(pm.c.person_id)))
                .select_from(ev.join(pm, pm.c.session_id == ev.c.session_id))
                .where(
                    ev.c.event_type.in_(REVENUE_EVENTS),
                    ev.c.timestamp >= ws - dt.timedelta(days=30),
                    ev.c.timestamp < ws,
                )
            )
            out.iloc[i, out.columns.get_loc("active_subscribers")] = conn.execute(stmt).scalar_one()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["completion_rate"] = out["completed"] / out["sessions"].replace(0, np.nan)
        out["conversion"] = out["paid_sessions"] / out["sessions"].replace(0, np.nan)
        out["churn"] = out["cancellations"] / out["active_subscribers"].replace(0, np.nan)
    out.index.name = "week_start"
    return out


def _noise(kpi: str, hist: pd.DataFrame, cur: pd.Series, prev: pd.Series) -> float:
    diffs = hist[kpi].diff().dropna()
    if len(diffs) >= 3:
        return float(diffs.std(ddof=1))
    if kpi in _RATES:
        n1, n0 = cur[_RATES[kpi]], prev[_RATES[kpi]]
        p = (cur[kpi] * n1 + prev[kpi] * n0) / (n1 + n0) if n1 + n0 else np.nan
        return float(np.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))) if n1 and n0 else float("nan")
    return float(np.sqrt(cur[kpi] + prev[kpi])) if kpi != "revenue" else float("nan")


def _movers(conn: Any, column: Any, ts: Any, where: Any, week: dt.datetime, top: int) -> pd.DataFrame:
    prev = week - dt.timedelta(days=7)
    cur_n = func.sum((ts >= week).cast(type_=analytics_events.c.id.type))
    stmt = (
        select(column, func.count(), cur_n)
        .where(where, ts >= prev, ts < week + dt.timedelta(days=7))
        .group_by(column)
    )
    rows = [(name, int(total), int(cur or 0)) for name, total, cur in conn.execute(stmt).all()]
    df = pd.DataFrame([(n, c, t - c) for n, t, c in rows], columns=["name", "this_week", "previous_week"])
    df["change"] = df["this_week"] - df["previous_week"]
    df["z"] = df["change"] / np.sqrt((df["this_week"] + df["previous_week"]).clip(lower=1))
    df = df.reindex(df["z"].abs().sort_values(ascending=False).index).head(top)
    return df.set_index("name")


def generate_weekly_report(
    source: Any,
    *,
    as_of: Any = None,
    week_start: str = "monday",
    history: int = 8,
    z: float = 2.0,
    top: int = 5,
) -> WeeklyReport:
    """KPIs of the last complete week before ``as_of`` (default now) with changes, noise flags and movers.

    Parameters
    ----------
    source:
        Database engine or connection.
    as_of:
        The report covers the last full week ending on or before this time.
    week_start:
        ``"monday"`` (default) or ``"sunday"``.
    history:
        Weeks before the report week used for the 4-week average and the noise (>= 4).
    z:
        Flag threshold in noise standard deviations.
    top:
        Movers listed per dimension.
    """
    if int(history) != history or history < 4:
        raise InvalidParameterError("history", f"'history' must be a whole number >= 4 (got {history!r})")
    now = to_naive_utc(as_of if as_of is not None else dt.datetime.now(dt.UTC), "as_of")
    this_week = period_starts(now, now, "week", week_start)[0]
    report_week = this_week - dt.timedelta(days=7)
    first = report_week - dt.timedelta(days=7 * history)
    table = weekly_kpis(source, first_week=first, weeks=history + 1, week_start=week_start)
    cur, prev, hist = table.iloc[-1], table.iloc[-2], table.iloc[:-1]
    rows = []
    for kpi in KPIS:
        avg4 = float(hist[kpi].iloc[-4:].mean())
        change = float(cur[kpi] - prev[kpi])
        noise = _noise(kpi, hist, cur, prev)
        rows.append(
            {
                "kpi": kpi,
                "value": float(cur[kpi]),
                "previous_week": float(prev[kpi]),
                "change": change,
                "change_pct": change / prev[kpi] if prev[kpi] else np.nan,
                "four_week_avg": avg4,
                "change_vs_avg": float(cur[kpi]) - avg4,
                "noise_sd": noise,
                "flagged": bool(np.isfinite(noise) and noise > 0 and abs(change) > z * noise),
            }
        )
    ev, a = analytics_events, assessments
    with connect(source) as conn:
        movers = {
            "sources": _movers(
                conn, ev.c.source, ev.c.timestamp, ev.c.event_type == "ai_calculator_opened", report_week, top
            ),
            "job_titles": _movers(
                conn, a.c.job_title, a.c.created_at, a.c.job_title.is_not(None), report_week, top
            ),
            "industries": _movers(
                conn, a.c.industry, a.c.created_at, a.c.industry.is_not(None), report_week, top
            ),
        }
    return WeeklyReport(
        report_week, this_week, pd.DataFrame(rows).set_index("kpi"), table, movers, REPORT_LINKS
    )
