"""Monthly subscriptions rebuilt from the event stream, their churn and their survival LTV.

A subscription is a person's run of payments on one plan: it starts with ``payment_succeeded`` and continues
with ``subscription_renewed`` (every ``renewal_days``, 30 by default as in the demo generator and the seed's
monthly plans); ``subscription_cancelled`` records the cancellation. One ``GROUP BY person, plan`` in SQL gives,
per subscription, the start, the number of payments (``months_paid``), the last payment, the last cancellation
and the revenue, so memory grows with the number of subscribers, not of events.

Churn follows :mod:`analytics.ltv.survival`: a subscriber is **churned** when the renewal after the last payment
fell due (``last_paid_at + renewal_days <= as_of``) and was not paid — whether or not a cancellation was
recorded (involuntary churn counts too); otherwise the subscription is right-censored after ``months_paid``
payments, a cancellation inside the paid month included. Under a constant monthly hazard ``h`` (the geometric
model the generator uses), each month whose outcome is known is a Bernoulli trial, so the maximum-likelihood
estimate is ``h = churned / at_risk`` with ``at_risk = sum(months_paid - 1 + churned)`` (Kaplan-Meier's pooled
hazard), and its interval is Wilson's score interval (Wilson 1927, *JASA* 22:209-212).

Limitations: a person who resubscribes to the same plan after churning is counted as one subscription (payments
of both runs added); subscriptions that started before the data (renewals without ``payment_succeeded``) are
left-truncated and excluded (their number is in ``attrs["left_truncated"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection, Engine

from analytics.errors import InvalidParameterError
from analytics.identity import person_map
from analytics.ltv.queries import amount_expr, connect
from analytics.ltv.survival import SurvivalLTV, survival_ltv
from analytics.schema import analytics_events
from analytics.storage import to_naive_utc

__all__ = ["subscription_churn", "subscription_ltv", "subscriptions"]

_PAY = ("payment_succeeded", "subscription_renewed")
_COLUMNS = ["person", "plan", "started_at", "months_paid", "last_paid_at", "cancelled_at", "revenue", "churned"]


def _check_renewal_days(renewal_days: float) -> None:
    if not np.isfinite(renewal_days) or renewal_days <= 0:
        raise InvalidParameterError("renewal_days", f"'renewal_days' must be > 0 (got {renewal_days!r})")


def subscriptions(source: Engine | Connection, *, as_of: Any, renewal_days: float = 30) -> pd.DataFrame:
    """One row per subscription (person and plan) from the events before ``as_of`` (method in the module doc).

    Returns
    -------
    DataFrame with ``person``, ``plan``, ``started_at``, ``months_paid`` (payments, >= 1), ``last_paid_at``,
    ``cancelled_at`` (NaT when none), ``revenue`` and ``churned`` (bool); naive UTC timestamps.
    ``attrs["left_truncated"]`` counts the excluded subscriptions without a first payment in the data.
    """
    _check_renewal_days(renewal_days)
    end = to_naive_utc(as_of, "as_of")
    ev = analytics_events
    pm = person_map().subquery("pm_sub")
    person = func.coalesce(pm.c.person_id, ev.c.session_id)
    plan = ev.c.event_data["plan"].as_string()
    is_pay = ev.c.event_type.in_(_PAY)
    stmt = (
        select(
            person.label("person"),
            plan.label("plan"),
            func.min(case((ev.c.event_type == "payment_succeeded", ev.c.timestamp))).label("started_at"),
            func.sum(case((is_pay, 1), else_=0)).label("months_paid"),
            func.max(case((is_pay, ev.c.timestamp))).label("last_paid_at"),
            func.max(case((ev.c.event_type == "subscription_cancelled", ev.c.timestamp))).label("cancelled_at"),
            func.sum(case((is_pay, amount_expr()), else_=0.0)).label("revenue"),
        )
        .select_from(ev.outerjoin(pm, pm.c.session_id == ev.c.session_id))
        .where(ev.c.event_type.in_((*_PAY, "subscription_cancelled")), ev.c.timestamp < end)
        .group_by(person, plan)
    )
    with connect(source) as conn:
        rows = conn.execute(stmt).all()
    df = pd.DataFrame(rows, columns=_COLUMNS[:-1])
    for col in ("started_at", "last_paid_at", "cancelled_at"):
        df[col] = pd.to_datetime(df[col])
    truncated = int((df["started_at"].isna() & (df["months_paid"] > 0)).sum())
    df = df[df["started_at"].notna()].reset_index(drop=True)
    df["months_paid"] = df["months_paid"].astype("int64")
    df["revenue"] = df["revenue"].astype(float)
    df["churned"] = (df["last_paid_at"] + pd.Timedelta(days=renewal_days) <= pd.Timestamp(end)).to_numpy()
    df = df.sort_values(["plan", "person"]).reset_index(drop=True)
    df.attrs["left_truncated"] = truncated
    return df


def _wilson(d: float, n: float, level: float) -> tuple[float, float]:
    if n == 0:
        return np.nan, np.nan
    z = stats.norm.ppf((1 + level) / 2)
    p = d / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def subscription_churn(subs: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Monthly churn per plan from :func:`subscriptions`: ``subscribers``, ``at_risk`` (months with a known
    outcome), ``churned``, ``monthly_churn`` (MLE of the constant hazard) with Wilson ``ci_low``/``ci_high``,
    ``note`` (why the rate is missing, if it is)."""
    if not 0 < level < 1:
        raise InvalidParameterError("level", f"'level' must be between 0 and 1 (got {level!r})")
    out = []
    for plan, g in subs.groupby("plan", sort=True):
        churned = int(g["churned"].sum())
        at_risk = int((g["months_paid"] - 1).sum()) + churned
        lo, hi = _wilson(churned, at_risk, level)
        out.append({
            "plan": plan,
            "subscribers": len(g),
            "at_risk": at_risk,
            "churned": churned,
            "monthly_churn": churned / at_risk if at_risk else np.nan,
            "ci_low": lo,
            "ci_high": hi,
            "note": "" if at_risk else "no renewal has fallen due yet: churn is not observable",
        })
    return pd.DataFrame(out).set_index("plan")


def subscription_ltv(
    source: Engine | Connection,
    *,
    as_of: Any,
    renewal_days: float = 30,
    horizon_months: int = 24,
    monthly_discount_rate: float = 0.01,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, SurvivalLTV]:
    """Survival LTV (:func:`analytics.ltv.survival_ltv`) of each plan's subscriptions as of ``as_of``.

    The price of a plan is its observed mean payment (revenue / payments), so discounts and price changes in
    the data carry through. Plans without subscribers are absent.
    """
    subs = subscriptions(source, as_of=as_of, renewal_days=renewal_days)
    out: dict[str, SurvivalLTV] = {}
    for plan, g in subs.groupby("plan", sort=True):
        price = float(g["revenue"].sum() / g["months_paid"].sum())
        out[str(plan)] = survival_ltv(
            g["months_paid"].to_numpy(),
            g["churned"].to_numpy(),
            price,
            horizon_months=horizon_months,
            monthly_discount_rate=monthly_discount_rate,
            level=level,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
    return out

