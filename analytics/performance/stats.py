"""Estimators behind the performance summary: quantiles with distribution-free intervals, Wilson rates.

Quantiles use linear interpolation between order statistics, Hyndman & Fan (1996) definition 7 (numpy's and
pandas' default): with ``h = (n - 1) p`` and the sorted sample ``x``, ``Q(p) = x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] −
x[⌊h⌋])``. Their confidence interval is the distribution-free order-statistic interval (Conover 1999,
*Practical Nonparametric Statistics*, §3.2; Hahn & Meeker 1991, §5.2): the number of observations below the
true quantile is Binomial(n, p), so with ``r = F⁻¹(α/2)`` and ``s = F⁻¹(1 − α/2) + 1`` (F the Binomial(n, p)
CDF) the order statistics ``[x₍ᵣ₎, x₍ₛ₎]`` (1-based) cover it with probability ≥ 1 − α, assuming only i.i.d.
draws from a continuous distribution. A rank outside 1..n leaves that bound open (``None``).
Rates use the Wilson (1927) score interval, which keeps its coverage near 0 and 1 where the Wald interval
fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from scipy import stats as _st

from analytics.errors import InvalidParameterError

__all__ = [
    "QUANTILES",
    "LatencyStats",
    "Quantile",
    "Rate",
    "latency_stats",
    "order_statistic_ranks",
    "quantile_from_order_stats",
    "wilson_rate",
]

#: The reported quantiles, in per-mille so SQL can index them with integer arithmetic.
QUANTILES: tuple[tuple[str, int], ...] = (("p50", 500), ("p95", 950), ("p99", 990))


@dataclass(frozen=True)
class Quantile:
    """One quantile estimate: ``value`` with interval ``[ci_low, ci_high]`` (``None`` = open bound)."""

    p: float
    value: float
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class LatencyStats:
    """Durations in ms: count, mean, max, p50/p95/p99 with intervals; ``reason`` says why any is missing."""

    count: int
    mean: float | None
    max: float | None
    p50: Quantile | None
    p95: Quantile | None
    p99: Quantile | None
    confidence: float = 0.95
    reason: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rate:
    """``numerator / denominator`` , Wilson interval; ``value`` is ``None`` (``reason`` set) when n = 0."""

    numerator: int
    denominator: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float = 0.95
    reason: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise InvalidParameterError(
            "confidence", f"'confidence' must be strictly between 0 and 1 (got confidence={confidence!r})")


def order_statistic_ranks(n: int, per_mille: int, confidence: float = 0.95) -> tuple[int, int, int, int]:
    """The 1-based ranks a quantile and its interval need: ``(lo, hi, r, s)``.

    ``lo``/``hi`` are the two order statistics type-7 interpolation uses (``hi == lo`` when ``h`` is whole or
    at the maximum); ``r``/``s`` the interval's ranks, which may be 0 or n + 1 (open bound).
    """
    _check_confidence(confidence)
    p = per_mille / 1000
    lo = (n - 1) * per_mille // 1000 + 1
    hi = min(lo + 1, n)
    alpha = 1 - confidence
    r = int(_st.binom.ppf(alpha / 2, n, p))
    s = int(_st.binom.ppf(1 - alpha / 2, n, p)) + 1
    return lo, hi, r, s


def quantile_from_order_stats(n: int, per_mille: int, order_stats: dict[int, float],
                              confidence: float = 0.95) -> Quantile:
    """Type-7 quantile and its order-statistic interval from the needed order statistics (rank → value)."""
    lo, hi, r, s = order_statistic_ranks(n, per_mille, confidence)
    h = (n - 1) * per_mille / 1000
    frac = h - math.floor(h)
    x_lo, x_hi = order_stats[lo], order_stats[hi]
    value = x_lo + frac * (x_hi - x_lo)
    return Quantile(per_mille / 1000, value, order_stats.get(r) if r >= 1 else None,
                    order_stats.get(s) if s <= n else None)


def latency_stats(values: Sequence[float], confidence: float = 0.95) -> LatencyStats:
    """Summarise an in-memory sample of durations (ms). An empty sample gives ``reason='no observations'``."""
    _check_confidence(confidence)
    n = len(values)
    if n == 0:
        return LatencyStats(0, None, None, None, None, None, confidence, "no observations")
    xs = sorted(float(v) for v in values)
    ranked = dict(enumerate(xs, start=1))
    qs = {name: quantile_from_order_stats(n, pm, ranked, confidence) for name, pm in QUANTILES}
    return LatencyStats(n, math.fsum(xs) / n, xs[-1], qs["p50"], qs["p95"], qs["p99"], confidence)


def wilson_rate(numerator: int, denominator: int, confidence: float = 0.95) -> Rate:
    """Proportion ``numerator/denominator`` with the Wilson score interval.

    ``center = (p̂ + z²/2n) / (1 + z²/n)``, ``half = z √(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n)``.

    Raises
    ------
    InvalidParameterError
        When the counts are negative or the numerator exceeds the denominator.
    """
    _check_confidence(confidence)
    if numerator < 0 or denominator < 0 or numerator > denominator:
        raise InvalidParameterError(
            "numerator", "'numerator' must be between 0 and 'denominator' "
            f"(got numerator={numerator}, denominator={denominator})")
    if denominator == 0:
        return Rate(numerator, 0, None, None, None, confidence, "denominator is 0")
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(numerator, denominator, alpha=1 - confidence, method="wilson")
    return Rate(numerator, denominator, numerator / denominator, max(0.0, float(lo)), min(1.0, float(hi)),
                confidence)
