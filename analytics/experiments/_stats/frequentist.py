"""Fixed-horizon frequentist comparisons from sufficient statistics.

* Rates: two-proportion z-test with the pooled standard error under H0 (the classical test; equals
  ``statsmodels.stats.proportion.proportions_ztest``) and the unpooled Wald interval for the difference
  (``confint_proportions_2indep(method="wald")``).
* Means (revenue per unit): Welch's unequal-variance t-test with Welch–Satterthwaite degrees of freedom
  (Welch 1947; equals ``scipy.stats.ttest_ind_from_stats(equal_var=False)``).
* Ratio metrics (Σy/Σx per arm, e.g. revenue per session when the unit is the user): the delta method
  variance of Deng, Knoblich & Lu (2018), "Applying the Delta Method in Metric Analytics", eq. (3), with a
  normal reference distribution.
* Relative lift ``m_t / m_c − 1``: delta-method standard error
  ``sqrt(v_t / m_c² + m_t² v_c / m_c⁴)`` (v = variance of the arm's mean), GrowthBook gbstats' frequentist
  relative effect, with the same reference distribution as the absolute test.
* Several treatment arms: Holm's step-down correction (Holm 1979) of the p-values.

Assumptions: units are independent, and each arm's mean is approximately normal (large-sample CLT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import stats

from analytics.errors import InvalidParameterError
from analytics.experiments._stats._types import (
    EffectEstimate,
    Interval,
    JointStats,
    Lift,
    SampleStats,
    check_alpha,
)

__all__ = [
    "apply_holm",
    "holm_adjust",
    "mean_interval",
    "proportion_interval",
    "proportion_ztest",
    "ratio_delta_test",
    "relative_lift",
    "welch_ttest",
]


def proportion_interval(stat: SampleStats, alpha: float = 0.05) -> Interval:
    """Wilson score interval for one arm's rate (Wilson 1927); ``[0, 0]`` when n = 0."""
    check_alpha(alpha)
    level = 1 - alpha
    if stat.n == 0:
        return Interval(0.0, 0.0, level)
    z = stats.norm.ppf(1 - alpha / 2)
    p, n = stat.mean, stat.n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(max(centre - half, 0.0), min(centre + half, 1.0), level)


def mean_interval(stat: SampleStats, alpha: float = 0.05) -> Interval:
    """Student-t interval for one arm's mean, ``ȳ ± t_{1−α/2, n−1} s/√n`` (degenerate to ȳ when n < 2)."""
    check_alpha(alpha)
    if stat.n < 2:
        return Interval(stat.mean, stat.mean, 1 - alpha)
    half = stats.t.ppf(1 - alpha / 2, stat.n - 1) * math.sqrt(stat.variance / stat.n)
    return Interval(stat.mean - half, stat.mean + half, 1 - alpha)


def relative_lift(m_c: float, v_c: float, m_t: float, v_t: float, crit: float, level: float) -> Lift:
    """Relative lift ``m_t/m_c − 1`` with its delta-method interval ``± crit · se``.

    ``v_c``/``v_t`` are the variances of the two arms' means. Undefined (with a reason) when ``m_c == 0``.
    """
    if m_c == 0:
        return Lift("relative", None, None, "control mean is 0, so a relative lift is undefined")
    est = m_t / m_c - 1
    se = math.sqrt(v_t / m_c**2 + m_t**2 * v_c / m_c**4)
    return Lift("relative", est, Interval(est - crit * se, est + crit * se, level))


def _two_sided_p(statistic: float, df: float | None) -> float:
    if df is None:
        return float(2 * stats.norm.sf(abs(statistic)))
    return float(2 * stats.t.sf(abs(statistic), df))


def _finish(
    method: str,
    alpha: float,
    m_c: float,
    m_t: float,
    v_c: float,
    v_t: float,
    statistic: float,
    df: float | None,
    crit: float,
    se: float,
    warnings: tuple[str, ...],
) -> EffectEstimate:
    """Assemble an :class:`EffectEstimate` from means, variances of the means and the reference quantile."""
    diff = m_t - m_c
    level = 1 - alpha
    p = _two_sided_p(statistic, df)
    return EffectEstimate(
        method=method,
        alpha=alpha,
        correction="none",
        control_mean=m_c,
        treatment_mean=m_t,
        absolute=Lift("absolute", diff, Interval(diff - crit * se, diff + crit * se, level)),
        relative=relative_lift(m_c, v_c, m_t, v_t, crit, level),
        statistic=statistic,
        df=df,
        p_value=p,
        adjusted_p_value=p,
        warnings=warnings,
    )


def _zero_se_result(
    method: str, alpha: float, m_c: float, m_t: float, df: float | None, warning: str
) -> EffectEstimate:
    diff = m_t - m_c
    p = 1.0 if diff == 0 else 0.0
    level = 1 - alpha
    rel = (
        Lift("relative", m_t / m_c - 1, Interval(m_t / m_c - 1, m_t / m_c - 1, level))
        if m_c
        else Lift("relative", None, None, "control mean is 0, so a relative lift is undefined")
    )
    return EffectEstimate(
        method,
        alpha,
        "none",
        m_c,
        m_t,
        Lift("absolute", diff, Interval(diff, diff, level)),
        rel,
        None,
        df,
        p,
        p,
        (warning,),
    )


def _not_estimable(method: str, alpha: float, m_c: float, m_t: float, reason: str) -> EffectEstimate:
    return EffectEstimate(
        method,
        alpha,
        "none",
        m_c,
        m_t,
        Lift("absolute", None, None, reason),
        Lift("relative", None, None, reason),
        None,
        None,
        None,
        None,
        (reason,),
    )


def proportion_ztest(control: SampleStats, treatment: SampleStats, alpha: float = 0.05) -> EffectEstimate:
    """Two-proportion z-test of ``p_t − p_c`` (pooled SE for the test, unpooled Wald interval).

    Parameters
    ----------
    control, treatment:
        Sufficient statistics of a 0/1 metric (``sum`` = conversions).
    alpha:
        Significance level; intervals are at ``1 − alpha``.

    Returns
    -------
    EffectEstimate
        ``z = (p_t − p_c) / sqrt(p̄(1−p̄)(1/n_c + 1/n_t))``. With no conversions (or all conversions) in both
        arms the test is defined as z undefined, p = 1 and a warning; with zero conversions in one arm the
        test still runs but its Wald interval is flagged as unreliable.
    """
    method = "two-proportion z-test (pooled SE), Wald interval"
    alpha = check_alpha(alpha)
    for name, s in (("control", control), ("treatment", treatment)):
        if s.sum > s.n or s.sum_sq != s.sum:
            raise InvalidParameterError(
                name, f"{name!r} must be 0/1 statistics with sum == sum_sq <= n (got {s})"
            )
    if control.n == 0 or treatment.n == 0:
        return _not_estimable(method, alpha, control.mean, treatment.mean, "an arm has no units")
    p_c, p_t = control.mean, treatment.mean
    n_c, n_t = control.n, treatment.n
    warnings: list[str] = []
    for name, s in (("control", control), ("treatment", treatment)):
        if s.sum == 0:
            warnings.append(f"{name} has zero conversions; the Wald interval is unreliable")
        elif s.sum == s.n:
            warnings.append(f"every {name} unit converted; the Wald interval is unreliable")
    pooled = (control.sum + treatment.sum) / (n_c + n_t)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    if se0 == 0:
        return _zero_se_result(
            method,
            alpha,
            p_c,
            p_t,
            None,
            "both arms have identical all-or-nothing conversions; p = 1 by definition",
        )
    z = (p_t - p_c) / se0
    v_c, v_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
    crit = float(stats.norm.ppf(1 - alpha / 2))
    se = math.sqrt(v_c + v_t)
    return _finish(method, alpha, p_c, p_t, v_c, v_t, z, None, crit, se, tuple(warnings))


def welch_df(v_c: float, n_c: int, v_t: float, n_t: int) -> float:
    """Welch–Satterthwaite degrees of freedom from the arms' sample variances and sizes."""
    a, b = v_c / n_c, v_t / n_t
    return (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))


def welch_ttest(control: SampleStats, treatment: SampleStats, alpha: float = 0.05) -> EffectEstimate:
    """Welch's t-test of ``mean_t − mean_c`` with a Welch-df t interval.

    Returns
    -------
    EffectEstimate
        ``t = (ȳ_t − ȳ_c) / sqrt(s_c²/n_c + s_t²/n_t)``. Not estimable (explicit reason) with fewer than two
        units in an arm; with zero variance in both arms p is 1 when the means are equal and 0 otherwise.
    """
    method = "Welch's t-test"
    alpha = check_alpha(alpha)
    if control.n < 2 or treatment.n < 2:
        return _not_estimable(
            method,
            alpha,
            control.mean,
            treatment.mean,
            "an arm has fewer than 2 units; the variance is undefined",
        )
    m_c, m_t = control.mean, treatment.mean
    v_c, v_t = control.variance / control.n, treatment.variance / treatment.n
    se = math.sqrt(v_c + v_t)
    if se == 0:
        return _zero_se_result(method, alpha, m_c, m_t, None, "both arms have zero variance")
    df = welch_df(control.variance, control.n, treatment.variance, treatment.n)
    t = (m_t - m_c) / se
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return _finish(method, alpha, m_c, m_t, v_c, v_t, t, df, crit, se, ())


def ratio_variance(stat: JointStats) -> float:
    """Delta-method variance of ``Σy/Σx`` (Deng et al. 2018, eq. 3).

    ``Var(ȳ/x̄) ≈ (σ_y²/μ_x² − 2 μ_y σ_xy/μ_x³ + μ_y² σ_x²/μ_x⁴) / n``.
    """
    mx, my = stat.sum_x / stat.n, stat.sum_y / stat.n
    return (
        stat.y.variance / mx**2 - 2 * my * stat.covariance / mx**3 + my**2 * stat.x.variance / mx**4
    ) / stat.n


def ratio_delta_test(control: JointStats, treatment: JointStats, alpha: float = 0.05) -> EffectEstimate:
    """Compare ratio metrics ``Σy/Σx`` (e.g. revenue per session, unit = user) with the delta method.

    Returns
    -------
    EffectEstimate
        z-test of the difference of the two ratios with ``Var = Var_c + Var_t`` from :func:`ratio_variance`.
        Not estimable when an arm has fewer than 2 units or ``Σx = 0``.
    """
    method = "delta-method z-test for a ratio metric"
    alpha = check_alpha(alpha)
    if control.n < 2 or treatment.n < 2 or control.sum_x == 0 or treatment.sum_x == 0:
        m_c = control.sum_y / control.sum_x if control.sum_x else 0.0
        m_t = treatment.sum_y / treatment.sum_x if treatment.sum_x else 0.0
        return _not_estimable(method, alpha, m_c, m_t, "an arm has fewer than 2 units or a zero denominator")
    m_c, m_t = control.sum_y / control.sum_x, treatment.sum_y / treatment.sum_x
    v_c, v_t = max(ratio_variance(control), 0.0), max(ratio_variance(treatment), 0.0)
    se = math.sqrt(v_c + v_t)
    if se == 0:
        return _zero_se_result(method, alpha, m_c, m_t, None, "both arms have zero variance")
    z = (m_t - m_c) / se
    crit = float(stats.norm.ppf(1 - alpha / 2))
    return _finish(method, alpha, m_c, m_t, v_c, v_t, z, None, crit, se, ())


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979).

    In ascending order of ``p``: ``p̃_(i) = max_{j<=i} min(1, (m − j) p_(j))`` (j counted from 0).
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def apply_holm(results: Sequence[EffectEstimate]) -> list[EffectEstimate]:
    """Holm-correct the p-values of several treatment-vs-control results (one family per metric).

    Results without a p-value are left untouched; with a single estimable result no correction is needed and
    ``correction`` stays ``"none"``. Intervals are not adjusted (stated in ``correction``).
    """
    idx = [i for i, r in enumerate(results) if r.p_value is not None]
    out = list(results)
    if len(idx) < 2:
        return out
    adjusted = holm_adjust([results[i].p_value for i in idx])  # type: ignore[misc]
    for i, p in zip(idx, adjusted, strict=True):
        out[i] = replace(results[i], adjusted_p_value=p, correction="holm (p-values; intervals unadjusted)")
    return out
