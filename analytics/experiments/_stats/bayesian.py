"""Bayesian view of a test: probability to beat control and expected loss.

* Rates: independent Beta posteriors ``p ~ Beta(a0 + conversions, b0 + n − conversions)`` (beta-binomial
  model, uniform prior by default). ``P(p_t > p_c)`` uses Evan Miller's closed form (2015, "Formulas for
  Bayesian A/B Testing")::

      P(p_t > p_c) = Σ_{i=0}^{α_t−1} B(α_c + i, β_c + β_t) / ((β_t + i) B(1 + i, β_t) B(α_c, β_c))

  for integer ``α_t``, and the expected loss of shipping the treatment ``E[max(p_c − p_t, 0)]`` uses
  ``E[p_c 1{p_c > p_t}] = α_c/(α_c+β_c) · P(p_c⁺ > p_t)`` with ``p_c⁺ ~ Beta(α_c+1, β_c)`` (Stucchio 2015,
  "Bayesian A/B Testing at VWO", sec. 4).
* Means: normal approximation of the difference with a flat prior, ``Δ ~ N(d, se²)``:
  ``P(Δ > 0) = Φ(d/se)``; expected loss ``E[max(−Δ, 0)] = se·φ(d/se) − d·Φ(−d/se)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from analytics.errors import InvalidParameterError
from analytics.experiments._stats._types import Interval, SampleStats, check_alpha

__all__ = ["BayesianResult", "beta_binomial", "normal_means", "prob_beta_greater"]


@dataclass(frozen=True)
class BayesianResult:
    """Posterior comparison of one treatment arm with control.

    Attributes
    ----------
    method:
        Model and prior, e.g. ``"beta-binomial, Beta(1, 1) prior"``.
    chance_to_beat_control:
        Posterior ``P(treatment > control)``.
    expected_loss_treatment:
        ``E[max(control − treatment, 0)]``: what shipping the treatment costs if it is in fact worse, in the
        metric's absolute unit.
    expected_loss_control:
        ``E[max(treatment − control, 0)]``: the cost of keeping control.
    absolute:
        Posterior mean of ``treatment − control`` with a central credible interval (normal approximation).
    warnings:
        E.g. zero conversions in an arm (the posterior is then driven by the prior).
    """

    method: str
    chance_to_beat_control: float
    expected_loss_treatment: float
    expected_loss_control: float
    absolute_estimate: float
    absolute: Interval
    warnings: tuple[str, ...] = ()


def prob_beta_greater(a_t: float, b_t: float, a_c: float, b_c: float) -> float:
    """``P(X_t > X_c)`` for independent ``X_t ~ Beta(a_t, b_t)``, ``X_c ~ Beta(a_c, b_c)``.

    Exact (Evan Miller's sum) when ``a_t`` or ``a_c`` is an integer: the sum runs over the smaller integer
    shape, using ``P(X_t > X_c) = 1 − P(X_c > X_t)`` when summing over ``a_c``.
    """
    candidates = [x for x in (a_t, a_c) if float(x).is_integer()]
    if not candidates:
        raise InvalidParameterError(
            "prior", f"one posterior alpha must be an integer (got a_t={a_t}, a_c={a_c})"
        )
    if float(a_t).is_integer() and (not float(a_c).is_integer() or a_t <= a_c):
        return _miller(a_t, b_t, a_c, b_c)
    return 1.0 - _miller(a_c, b_c, a_t, b_t)


def _miller(a_b: float, b_b: float, a_a: float, b_a: float) -> float:
    """Evan Miller's sum for ``P(X_b > X_a)``, summed over ``i < a_b`` in log space."""
    i = np.arange(int(a_b), dtype=float)
    terms = (
        special.betaln(a_a + i, b_a + b_b)
        - np.log(b_b + i)
        - special.betaln(1 + i, b_b)
        - special.betaln(a_a, b_a)
    )
    return float(np.clip(np.exp(special.logsumexp(terms)), 0.0, 1.0))


def beta_binomial(
    control: SampleStats,
    treatment: SampleStats,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    alpha: float = 0.05,
) -> BayesianResult:
    """Beta-binomial comparison of two conversion rates.

    Parameters
    ----------
    control, treatment:
        0/1 sufficient statistics (``sum`` = conversions).
    prior:
        ``(a0, b0)`` of the Beta prior; ``a0`` must be an integer (default uniform ``Beta(1, 1)``).
    alpha:
        The credible interval is at ``1 − alpha``.
    """
    check_alpha(alpha)
    a0, b0 = prior
    if a0 <= 0 or b0 <= 0 or not float(a0).is_integer():
        raise InvalidParameterError(
            "prior", f"'prior' must be (a0, b0) with a positive integer a0 and b0 > 0 (got prior={prior!r})"
        )
    a_c, b_c = a0 + control.sum, b0 + control.n - control.sum
    a_t, b_t = a0 + treatment.sum, b0 + treatment.n - treatment.sum
    p_beat = prob_beta_greater(a_t, b_t, a_c, b_c)
    mean_c, mean_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
    # E[X_c 1{X_c > X_t}] − E[X_t 1{X_c > X_t}]
    loss_t = mean_c * prob_beta_greater(a_c + 1, b_c, a_t, b_t) - mean_t * prob_beta_greater(
        a_c, b_c, a_t + 1, b_t
    )
    loss_c = mean_t * prob_beta_greater(a_t + 1, b_t, a_c, b_c) - mean_c * prob_beta_greater(
        a_t, b_t, a_c + 1, b_c
    )
    var = stats.beta.var(a_c, b_c) + stats.beta.var(a_t, b_t)
    d = mean_t - mean_c
    z = stats.norm.ppf(1 - alpha / 2)
    warnings = tuple(
        f"{name} has zero conversions; its posterior is driven by the prior"
        for name, s in (("control", control), ("treatment", treatment))
        if s.sum == 0
    )
    return BayesianResult(
        method=f"beta-binomial, Beta({a0:g}, {b0:g}) prior",
        chance_to_beat_control=p_beat,
        expected_loss_treatment=max(loss_t, 0.0),
        expected_loss_control=max(loss_c, 0.0),
        absolute_estimate=d,
        absolute=Interval(d - z * math.sqrt(var), d + z * math.sqrt(var), 1 - alpha),
        warnings=warnings,
    )


def normal_means(control: SampleStats, treatment: SampleStats, *, alpha: float = 0.05) -> BayesianResult:
    """Normal-approximation (flat prior) comparison of two means, e.g. revenue per unit.

    The posterior of ``Δ = μ_t − μ_c`` is ``N(ȳ_t − ȳ_c, s_c²/n_c + s_t²/n_t)``.
    """
    check_alpha(alpha)
    method = "normal approximation, flat prior"
    d = treatment.mean - control.mean
    if control.n < 2 or treatment.n < 2:
        reason = "an arm has fewer than 2 units; the posterior is undefined, reported as a coin flip"
        return BayesianResult(method, 0.5, 0.0, 0.0, d, Interval(d, d, 1 - alpha), (reason,))
    se = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    if se == 0:
        p = 1.0 if d > 0 else 0.0 if d < 0 else 0.5
        return BayesianResult(
            method,
            p,
            max(-d, 0.0),
            max(d, 0.0),
            d,
            Interval(d, d, 1 - alpha),
            ("both arms have zero variance",),
        )
    r = d / se
    loss_t = se * stats.norm.pdf(r) - d * stats.norm.cdf(-r)
    loss_c = se * stats.norm.pdf(r) + d * stats.norm.cdf(r)
    z = stats.norm.ppf(1 - alpha / 2)
    return BayesianResult(
        method=method,
        chance_to_beat_control=float(stats.norm.cdf(r)),
        expected_loss_treatment=float(loss_t),
        expected_loss_control=float(loss_c),
        absolute_estimate=d,
        absolute=Interval(d - z * se, d + z * se, 1 - alpha),
    )
