"""Always-valid (sequential) confidence intervals, so a test may be looked at every day.

Asymptotic confidence sequence with a normal mixture boundary: Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas
(2024), "Time-uniform central limit theory and asymptotic confidence sequences", Annals of Statistics
(arXiv:2103.06476, Theorem 2.2; the same boundary GrowthBook's gbstats uses)::

    halfwidth_n = sqrt(s²) · sqrt( 2(nρ² + 1) / (n² ρ²) · log( sqrt(nρ² + 1) / α ) )

with ``n`` the total number of units, ``s² = n · Var(estimate)`` and the mixing parameter

    ρ = sqrt( (−2 log α + log(−2 log α + 1)) / N★ )

which makes the sequence tightest at ``N★`` units (the "tuning" sample size; Howard et al. 2021, eq. 3.12).
The interval covers the true effect at every ``n`` simultaneously with probability ≥ 1 − α, asymptotically,
so stopping when it first excludes zero keeps the false-positive rate at α. The always-valid p-value is the
smallest α whose sequence excludes zero.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from analytics.errors import InvalidParameterError
from analytics.experiments._stats._types import (
    EffectEstimate,
    Interval,
    Lift,
    SampleStats,
    check_alpha,
)

__all__ = ["sequential_halfwidth", "sequential_test"]


def _rho(alpha: np.ndarray | float, tuning_n: float) -> np.ndarray | float:
    return np.sqrt((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning_n)


def sequential_halfwidth(
    variance: np.ndarray | float, n: np.ndarray | float, alpha: float, tuning_n: float = 5000.0
) -> np.ndarray | float:
    """Half-width of the asymptotic confidence sequence (vectorised over ``variance`` and ``n``).

    Parameters
    ----------
    variance:
        Variance of the estimate (e.g. ``s_c²/n_c + s_t²/n_t`` for a difference of means).
    n:
        Total units behind the estimate.
    alpha:
        Error rate over the whole sequence of looks.
    tuning_n:
        Sample size at which the sequence is tightest.
    """
    rho2 = _rho(alpha, tuning_n) ** 2
    s2 = np.asarray(variance) * n
    return np.sqrt(s2) * np.sqrt(2 * (n * rho2 + 1) / (n * n * rho2) * np.log(np.sqrt(n * rho2 + 1) / alpha))


def _always_valid_p(diff: float, variance: float, n: int, tuning_n: float) -> float:
    """Smallest α whose confidence sequence excludes 0 (1.0 when none below 1 does)."""
    if variance == 0:
        return 1.0 if diff == 0 else 0.0

    def gap(log_alpha: float) -> float:
        return float(sequential_halfwidth(variance, n, math.exp(log_alpha), tuning_n)) - abs(diff)

    hi = math.log(1 - 1e-12)
    if gap(hi) >= 0:
        return 1.0
    lo = math.log(1e-300)
    if gap(lo) <= 0:
        return 0.0
    return math.exp(optimize.brentq(gap, lo, hi, xtol=1e-12))


def sequential_test(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    tuning_n: float = 5000.0,
    proportion: bool = False,
) -> EffectEstimate:
    """Difference of means (or rates) with always-valid intervals and an always-valid p-value.

    Parameters
    ----------
    control, treatment:
        Sufficient statistics; for ``proportion=True`` 0/1 data with variance ``p(1 − p)``.
    alpha:
        Error rate over all looks.
    tuning_n:
        Total units at which the intervals are tightest (GrowthBook's default 5000).

    Returns
    -------
    EffectEstimate
        ``method`` names the confidence sequence; ``statistic`` is the z-score ``d/se`` for reference.
        The relative lift uses the same boundary on its delta-method variance.
    """
    alpha = check_alpha(alpha)
    if tuning_n <= 0:
        raise InvalidParameterError("tuning_n", f"'tuning_n' must be > 0 (got tuning_n={tuning_n})")
    method = f"asymptotic confidence sequence (Waudby-Smith et al. 2024), tuned at N={tuning_n:g}"
    level = 1 - alpha
    m_c, m_t = control.mean, treatment.mean
    if control.n < 2 or treatment.n < 2:
        reason = "an arm has fewer than 2 units; the variance is undefined"
        return EffectEstimate(
            method, alpha, "none", m_c, m_t, Lift("absolute", None, None, reason),
            Lift("relative", None, None, reason), None, None, None, None, (reason,),
        )  # fmt: skip
    if proportion:
        v_c, v_t = m_c * (1 - m_c) / control.n, m_t * (1 - m_t) / treatment.n
    else:
        v_c, v_t = control.variance / control.n, treatment.variance / treatment.n
    n = control.n + treatment.n
    diff = m_t - m_c
    var = v_c + v_t
    hw = float(sequential_halfwidth(var, n, alpha, tuning_n))
    warnings: tuple[str, ...] = ("both arms have zero variance",) if var == 0 else ()
    if m_c == 0:
        rel = Lift("relative", None, None, "control mean is 0, so a relative lift is undefined")
    else:
        r = m_t / m_c - 1
        rvar = v_t / m_c**2 + m_t**2 * v_c / m_c**4
        rhw = float(sequential_halfwidth(rvar, n, alpha, tuning_n))
        rel = Lift("relative", r, Interval(r - rhw, r + rhw, level))
    p = _always_valid_p(diff, var, n, tuning_n)
    z = diff / math.sqrt(var) if var > 0 else None
    return EffectEstimate(
        method=method,
        alpha=alpha,
        correction="none",
        control_mean=m_c,
        treatment_mean=m_t,
        absolute=Lift("absolute", diff, Interval(diff - hw, diff + hw, level)),
        relative=rel,
        statistic=z,
        df=None,
        p_value=p,
        adjusted_p_value=p,
        warnings=warnings,
    )


def fixed_horizon_halfwidth(variance: np.ndarray | float, alpha: float) -> np.ndarray | float:
    """The ordinary ``z_{1−α/2}·se`` half-width, for comparison with :func:`sequential_halfwidth`."""
    return stats.norm.ppf(1 - alpha / 2) * np.sqrt(variance)
