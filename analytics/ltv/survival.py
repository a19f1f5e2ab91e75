"""Survival-based lifetime value of monthly subscriptions: Kaplan-Meier retention x price, discounted.

Each subscriber is summarised by ``months_paid`` (payments made so far, >= 1) and ``churned`` (True when the
renewal after the last payment fell due and was not paid; False otherwise, i.e. right-censored — including a
cancellation whose paid month has not ended yet, which would otherwise bias the churn rate upwards). Retention
``S(k)`` is the probability of making payment ``k + 1`` (``S(0) = 1``), estimated by the discrete Kaplan-Meier
product ``S(k) = prod_{j=1..k} (1 - d_j / n_j)`` (Kaplan & Meier 1958) where ``d_j`` subscribers stopped after
``j`` payments and ``n_j`` are those whose fate after payment ``j`` is known (paid more than ``j``, or stopped
at ``j``). A subscriber still active after ``j`` payments, whose next renewal is not yet due, is censored
and excluded from the risk set at ``j``. Beyond the longest observed tenure the curve is extrapolated with the
pooled monthly churn rate ``sum d_j / sum n_j`` (constant-hazard, geometric tail).

``LTV = price * sum_{k=0..H-1} S(k) / (1 + d)^k``: each payment is made at the start of its month and
discounted at the monthly rate ``d``. The confidence interval is a percentile bootstrap over subscribers
(multinomial resampling of the distinct ``(months_paid, churned)`` histories), which also covers the
extrapolated tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analytics.errors import InvalidParameterError
from analytics.ltv._checks import _as_float_array, _check_positive_scalar

__all__ = ["SurvivalLTV", "survival_ltv"]


@dataclass(frozen=True)
class SurvivalLTV:
    """Result of :func:`survival_ltv`.

    Attributes
    ----------
    ltv, ci_low, ci_high:
        Expected discounted revenue per new subscriber over the horizon and its bootstrap interval.
    retention:
        DataFrame indexed by month ``k`` (0..H-1): ``at_risk``, ``churned``, ``retention`` (S(k)),
        ``extrapolated`` (bool), ``discounted_revenue`` (price S(k) / (1+d)^k).
    monthly_churn:
        Pooled churn rate used for the tail (and a summary of the observed hazard).
    horizon_months, price, monthly_discount_rate, n_subscribers, level:
        The inputs.
    """

    ltv: float
    ci_low: float
    ci_high: float
    retention: pd.DataFrame
    monthly_churn: float
    horizon_months: int
    price: float
    monthly_discount_rate: float
    n_subscribers: int
    level: float


def _km_curves(
    counts_churn: NDArray[np.float64], counts_active: NDArray[np.float64], horizon: int
) -> NDArray:
    """Vectorised KM for B replicates; inputs are (B, K+1) counts indexed by months_paid."""
    paid_more = np.cumsum((counts_churn + counts_active)[:, ::-1], axis=1)[:, ::-1]  # months_paid >= j
    kmax = counts_churn.shape[1] - 1
    at_risk = paid_more[:, 2:] if kmax >= 2 else np.zeros((counts_churn.shape[0], 0))  # paid > j, j=1..kmax-1
    at_risk = np.concatenate(
        [at_risk, np.zeros((counts_churn.shape[0], 1))], axis=1
    )  # j = kmax: none paid more
    d = counts_churn[:, 1:]
    n = at_risk + d
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(n > 0, d / n, 0.0)
    pooled = np.divide(d.sum(axis=1), n.sum(axis=1), out=np.zeros(d.shape[0]), where=n.sum(axis=1) > 0)
    surv = np.ones((counts_churn.shape[0], horizon))
    s = np.ones(counts_churn.shape[0])
    for k in range(1, horizon):
        h = hazard[:, k - 1] if k <= kmax else pooled
        s = s * (1 - h)
        surv[:, k] = s
    return surv, hazard, n, pooled


def survival_ltv(
    months_paid: ArrayLike,
    churned: ArrayLike,
    price: float,
    *,
    horizon_months: int = 24,
    monthly_discount_rate: float = 0.01,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> SurvivalLTV:
    """Expected discounted subscription revenue per subscriber (method in the module docstring).

    Parameters
    ----------
    months_paid:
        Payments made by each subscriber (whole numbers >= 1).
    churned:
        Whether the renewal after each subscriber's last payment fell due unpaid (False = censored, including
        cancellations whose paid month has not ended by the observation date).
    price:
        Monthly price (> 0).
    horizon_months:
        Number of monthly payments counted (>= 1).
    monthly_discount_rate:
        ``d`` > -1.
    level:
        Confidence level of the bootstrap interval.
    """
    k = _as_float_array("months_paid", months_paid)
    c = np.asarray(churned, dtype=bool).reshape(-1)
    if c.size != k.size:
        raise InvalidParameterError(
            "months_paid",
            f"months_paid, churned must have the same length (got months_paid={k.size}, churned={c.size})",
        )
    if (k < 1).any() or (k != np.round(k)).any():
        i = int(np.flatnonzero((k < 1) | (k != np.round(k)))[0])
        raise InvalidParameterError(
            "months_paid", f"'months_paid' must be whole numbers >= 1 (got {k[i]} at position {i})"
        )
    price = _check_positive_scalar("price", price)
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise InvalidParameterError(
            "horizon_months", f"'horizon_months' must be a whole number >= 1 (got {horizon_months!r})"
        )
    if not 0 < level < 1:
        raise InvalidParameterError("level", f"'level' must be between 0 and 1 (got {level!r})")
    if not np.isfinite(monthly_discount_rate) or monthly_discount_rate <= -1:
        raise InvalidParameterError(
            "monthly_discount_rate", f"'monthly_discount_rate' must be > -1 (got {monthly_discount_rate!r})"
        )
    horizon = int(horizon_months)
    ki = k.astype(int)
    kmax = int(ki.max())
    churn_counts = np.bincount(ki[c], minlength=kmax + 1).astype(float)[None, :]
    active_counts = np.bincount(ki[~c], minlength=kmax + 1).astype(float)[None, :]
    surv, hazard, n, pooled = _km_curves(churn_counts, active_counts, horizon)
    disc = price / (1 + monthly_discount_rate) ** np.arange(horizon)
    ltv = float(surv[0] @ disc)

    cells = np.concatenate([churn_counts[0], active_counts[0]])
    rng = np.random.default_rng(seed)
    boot = rng.multinomial(k.size, cells / cells.sum(), size=n_bootstrap).astype(float)
    bsurv, *_ = _km_curves(boot[:, : kmax + 1], boot[:, kmax + 1 :], horizon)
    lo, hi = np.quantile(bsurv @ disc, [(1 - level) / 2, (1 + level) / 2])

    months = np.arange(horizon)
    observed = months <= kmax
    at_risk = np.where(
        observed & (months >= 1), np.concatenate([[k.size], n[0]])[np.minimum(months, kmax)], np.nan
    )
    at_risk[0] = k.size
    d = np.where(observed & (months >= 1), churn_counts[0][np.minimum(months, kmax)], np.nan)
    table = pd.DataFrame(
        {
            "at_risk": at_risk,
            "churned": d,
            "retention": surv[0],
            "extrapolated": months > kmax,
            "discounted_revenue": surv[0] * disc,
        },
        index=pd.Index(months, name="month"),
    )
    return SurvivalLTV(
        ltv,
        float(lo),
        float(hi),
        table,
        float(pooled[0]),
        horizon,
        price,
        float(monthly_discount_rate),
        int(k.size),
        float(level),
    )
