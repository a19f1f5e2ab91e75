"""CUPED variance reduction with a pre-exposure covariate (Deng, Xu, Kohavi & Walker 2013, "Improving the
Sensitivity of Online Controlled Experiments by Utilizing Pre-Experiment Data", WSDM, sec. 3.2).

Each unit's metric ``y`` is adjusted with its pre-exposure covariate ``x`` (e.g. the same metric before
exposure): ``y_adj = y − θ (x − x̄)``, with ``θ = cov(y, x) / var(x)`` estimated on all units of the test
pooled (the variance-minimising coefficient; θ is treated as known, as in the paper). The adjusted means
keep their expectation, and their variance shrinks by the factor ``1 − ρ²`` (ρ = corr(y, x)). The comparison
is then Welch's t-test on the adjusted values, computed from the sums ``n, Σy, Σy², Σx, Σx², Σxy`` of each
arm: ``Var(y − θx) = s_y² − 2θ s_xy + θ² s_x²``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from analytics.experiments._stats._types import EffectEstimate, JointStats, check_alpha
from analytics.experiments._stats.frequentist import _finish, welch_df, welch_ttest

__all__ = ["CupedEstimate", "cuped_theta", "cuped_ttest"]


@dataclass(frozen=True)
class CupedEstimate:
    """CUPED-adjusted comparison.

    Attributes
    ----------
    effect:
        Welch's t-test on the adjusted values (``method`` says CUPED and θ).
    theta:
        The regression coefficient used.
    variance_reduction:
        ``1 − Var(adjusted difference) / Var(unadjusted difference)``: the share of variance removed.
    """

    effect: EffectEstimate
    theta: float
    variance_reduction: float


def cuped_theta(arms: Sequence[JointStats]) -> float:
    """``θ = cov(y, x) / var(x)`` over all units of the given arms pooled (0 when var(x) = 0)."""
    pooled = arms[0]
    for arm in arms[1:]:
        pooled = pooled + arm
    var_x = pooled.x.variance
    return pooled.covariance / var_x if var_x > 0 else 0.0


def _adjusted_variance(arm: JointStats, theta: float) -> float:
    return max(arm.y.variance - 2 * theta * arm.covariance + theta * theta * arm.x.variance, 0.0)


def cuped_ttest(
    control: JointStats, treatment: JointStats, *, alpha: float = 0.05, theta: float | None = None
) -> CupedEstimate:
    """Welch's t-test of CUPED-adjusted means.

    Parameters
    ----------
    control, treatment:
        Joint sums of the metric ``y`` and the pre-exposure covariate ``x``.
    alpha:
        Significance level.
    theta:
        Override the coefficient (default: :func:`cuped_theta` of both arms pooled).
    """
    alpha = check_alpha(alpha)
    if control.n < 2 or treatment.n < 2:
        plain = welch_ttest(control.y, treatment.y, alpha)
        return CupedEstimate(plain, 0.0, 0.0)
    warnings: list[str] = []
    if theta is None:
        theta = cuped_theta([control, treatment])
        if (control + treatment).x.variance == 0:
            warnings.append("the covariate has no variance; CUPED falls back to the unadjusted test")
    x_bar = (control.sum_x + treatment.sum_x) / (control.n + treatment.n)
    m_c = control.y.mean - theta * (control.x.mean - x_bar)
    m_t = treatment.y.mean - theta * (treatment.x.mean - x_bar)
    s2_c, s2_t = _adjusted_variance(control, theta), _adjusted_variance(treatment, theta)
    v_c, v_t = s2_c / control.n, s2_t / treatment.n
    raw = control.y.variance / control.n + treatment.y.variance / treatment.n
    se = math.sqrt(v_c + v_t)
    method = f"CUPED (theta={theta:.4g}) + Welch's t-test"
    if se == 0:
        plain = welch_ttest(control.y, treatment.y, alpha)
        return CupedEstimate(plain, theta, 0.0)
    df = welch_df(s2_c, control.n, s2_t, treatment.n)
    t = (m_t - m_c) / se
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    effect = _finish(method, alpha, m_c, m_t, v_c, v_t, t, df, crit, se, tuple(warnings))
    reduction = 1 - (v_c + v_t) / raw if raw > 0 else 0.0
    return CupedEstimate(effect, theta, reduction)
