"""Power, sample size, minimum detectable effect (MDE) and days to run.

Formulas (two-sided test at level α, power 1 − β, ``k = n_treatment / n_control``):

* Rates — the normal approximation of Fleiss, Levin & Paik (2003), *Statistical Methods for Rates and
  Proportions*, eq. 4.14 without continuity correction (pooled variance under H0, unpooled under H1)::

      n_c = [ z_{1−α/2} sqrt(p̄ q̄ (1 + 1/k)) + z_{1−β} sqrt(p_c q_c + p_t q_t / k) ]² / (p_t − p_c)²,
      p̄ = (p_c + k p_t) / (1 + k)

  (what ``statsmodels.stats.proportion.samplesize_proportions_2indep_onetail`` computes).
* Means — ``n_c = (z_{1−α/2} + z_{1−β})² σ² (1 + 1/k) / δ²`` (Chow, Shao & Wang 2008, sec. 3.2.1; what
  ``statsmodels.stats.power.NormalIndPower`` solves).
* MDE — the smallest effect whose required sample equals the given one (closed form for means, root-finding
  for rates).
* Days to run — ``ceil(total units needed / (daily eligible units × coverage))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize, stats

from analytics.errors import InvalidParameterError
from analytics.experiments._stats._types import check_alpha

__all__ = [
    "PowerPlan",
    "days_to_run",
    "mde_means",
    "mde_proportions",
    "sample_size_means",
    "sample_size_proportions",
]

RATE_FORMULA = "Fleiss et al. (2003) eq. 4.14, normal approximation, no continuity correction"
MEAN_FORMULA = "n = (z_{1-a/2} + z_{1-b})^2 sigma^2 (1 + 1/k) / delta^2 (normal approximation)"


@dataclass(frozen=True)
class PowerPlan:
    """A sample-size plan.

    Attributes
    ----------
    formula:
        The formula used (see the module docstring).
    alpha, power:
        Significance level and target power.
    baseline:
        Control rate (or mean).
    mde_absolute, mde_relative:
        The effect the plan detects, absolute (rate points or metric units) and relative to ``baseline``.
    n_control, n_treatment:
        Units needed per arm (rounded up).
    total:
        Units needed over all arms (``arms − 1`` treatment arms of ``n_treatment`` each).
    days:
        Days to collect ``total`` at the given traffic (``None`` when no traffic was given).
    """

    formula: str
    alpha: float
    power: float
    baseline: float
    mde_absolute: float
    mde_relative: float | None
    n_control: int
    n_treatment: int
    total: int
    days: int | None = None


def _check_power(power: float) -> float:
    if not isinstance(power, int | float) or not 0 < power < 1:
        raise InvalidParameterError("power", f"'power' must be a number in (0, 1) (got power={power!r})")
    return float(power)


def _check_positive(value: float, name: str) -> float:
    if not isinstance(value, int | float) or not value > 0 or not math.isfinite(value):
        raise InvalidParameterError(name, f"{name!r} must be a finite number > 0 (got {name}={value!r})")
    return float(value)


def _n_rates(p_c: float, p_t: float, alpha: float, power: float, k: float) -> float:
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    p_bar = (p_c + k * p_t) / (1 + k)
    num = za * math.sqrt(p_bar * (1 - p_bar) * (1 + 1 / k)) + zb * math.sqrt(
        p_c * (1 - p_c) + p_t * (1 - p_t) / k
    )
    return num**2 / (p_t - p_c) ** 2


def days_to_run(total_units: int, daily_units: float, coverage: float = 1.0) -> int:
    """Days to collect ``total_units`` when ``daily_units`` eligible units arrive per day and ``coverage`` of
    them enter the test: ``ceil(total / (daily × coverage))``."""
    _check_positive(daily_units, "daily_units")
    if not 0 < coverage <= 1:
        raise InvalidParameterError("coverage", f"'coverage' must be in (0, 1] (got coverage={coverage!r})")
    return math.ceil(total_units / (daily_units * coverage))


def _plan(
    formula: str,
    alpha: float,
    power: float,
    baseline: float,
    delta: float,
    n_c: float,
    k: float,
    arms: int,
    daily_units: float | None,
    coverage: float,
) -> PowerPlan:
    if arms < 2:
        raise InvalidParameterError("arms", f"'arms' must be an integer >= 2 (got arms={arms!r})")
    n_control = math.ceil(n_c - 1e-9)
    n_treatment = math.ceil(k * n_c - 1e-9)
    total = n_control + (arms - 1) * n_treatment
    days = days_to_run(total, daily_units, coverage) if daily_units is not None else None
    rel = delta / baseline if baseline else None
    return PowerPlan(formula, alpha, power, baseline, delta, rel, n_control, n_treatment, total, days)


def sample_size_proportions(
    baseline: float,
    mde: float,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    arms: int = 2,
    daily_units: float | None = None,
    coverage: float = 1.0,
) -> PowerPlan:
    """Units needed to detect a change of a conversion rate.

    Parameters
    ----------
    baseline:
        Control conversion rate, in (0, 1).
    mde:
        Effect to detect: relative (``0.1`` = +10 %) when ``relative``, else absolute rate points.
    alpha, power:
        Two-sided significance level and power.
    ratio:
        ``n_treatment / n_control`` (1 = equal split).
    arms:
        Number of arms including control (total = control + (arms − 1) treatments).
    daily_units, coverage:
        Optional traffic, to compute ``days``.
    """
    alpha, power = check_alpha(alpha), _check_power(power)
    if not 0 < baseline < 1:
        raise InvalidParameterError(
            "baseline", f"'baseline' must be a rate in (0, 1) (got baseline={baseline!r})"
        )
    _check_positive(ratio, "ratio")
    delta = baseline * mde if relative else mde
    p_t = baseline + delta
    if delta == 0 or not 0 < p_t < 1:
        raise InvalidParameterError(
            "mde", f"'mde' must give a treatment rate in (0, 1) other than the baseline (got mde={mde!r})"
        )
    n_c = _n_rates(baseline, p_t, alpha, power, ratio)
    return _plan(RATE_FORMULA, alpha, power, baseline, delta, n_c, ratio, arms, daily_units, coverage)


def sample_size_means(
    std: float,
    mde: float,
    *,
    baseline: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    arms: int = 2,
    daily_units: float | None = None,
    coverage: float = 1.0,
) -> PowerPlan:
    """Units needed to detect an absolute change ``mde`` of a mean with per-unit standard deviation ``std``.

    Parameters are as in :func:`sample_size_proportions`; ``baseline`` (the control mean) is only used to
    express the MDE relatively.
    """
    alpha, power = check_alpha(alpha), _check_power(power)
    _check_positive(std, "std")
    _check_positive(abs(mde) if isinstance(mde, int | float) else mde, "mde")
    _check_positive(ratio, "ratio")
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    n_c = (za + zb) ** 2 * std**2 * (1 + 1 / ratio) / mde**2
    return _plan(MEAN_FORMULA, alpha, power, baseline, abs(mde), n_c, ratio, arms, daily_units, coverage)


def mde_means(
    std: float, n_control: int, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Smallest absolute change of a mean detectable with ``n_control`` (and ``ratio × n_control``) units:
    ``δ = (z_{1−α/2} + z_{1−β}) σ sqrt(1/n_c + 1/n_t)``."""
    alpha, power = check_alpha(alpha), _check_power(power)
    _check_positive(std, "std")
    _check_positive(n_control, "n_control")
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    return float((za + zb) * std * math.sqrt(1 / n_control + 1 / (ratio * n_control)))


def mde_proportions(
    baseline: float, n_control: int, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Smallest absolute increase of a rate detectable with ``n_control`` units per control arm.

    Solves the rate formula of :func:`sample_size_proportions` for ``p_t > baseline`` by Brent's method.
    """
    alpha, power = check_alpha(alpha), _check_power(power)
    if not 0 < baseline < 1:
        raise InvalidParameterError(
            "baseline", f"'baseline' must be a rate in (0, 1) (got baseline={baseline!r})"
        )
    _check_positive(n_control, "n_control")
    hi = 1 - baseline - 1e-12
    if _n_rates(baseline, baseline + hi, alpha, power, ratio) > n_control:
        raise InvalidParameterError(
            "n_control",
            f"'n_control' is too small to detect any increase of the rate (got n_control={n_control})",
        )

    def excess(delta: float) -> float:
        return _n_rates(baseline, baseline + delta, alpha, power, ratio) - n_control

    return float(optimize.brentq(excess, 1e-12, hi, xtol=1e-14))
