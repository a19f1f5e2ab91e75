"""Sufficient statistics and typed results shared by every statistical method.

Every method works from per-variant sums, never from raw rows (GrowthBook ``gbstats`` style), so the same code
serves a SQL ``GROUP BY`` and a DataFrame: ``n``, ``Σy``, ``Σy²`` for a mean or rate, plus ``Σx``, ``Σx²`` and
``Σxy`` for a ratio metric (delta method) or a pre-exposure covariate (CUPED).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from analytics.errors import InvalidParameterError

__all__ = ["EffectEstimate", "Interval", "JointStats", "Lift", "SampleStats", "check_alpha"]


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Return ``alpha`` if it lies in (0, 1), else raise :class:`InvalidParameterError`."""
    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidParameterError(name, f"{name!r} must be a number in (0, 1) (got {name}={alpha!r})")
    return float(alpha)


def _check_count(n: object, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise InvalidParameterError(name, f"{name!r} must be an integer >= 0 (got {name}={n!r})")
    return int(n)


def _check_finite(value: object, name: str) -> float:
    if not isinstance(value, int | float | np.number) or not math.isfinite(float(value)):
        raise InvalidParameterError(name, f"{name!r} must be a finite number (got {name}={value!r})")
    return float(value)


@dataclass(frozen=True)
class SampleStats:
    """Sufficient statistics of one metric in one variant: ``n``, ``Σy``, ``Σy²``.

    For a conversion rate ``y`` is 0/1, so ``sum == sum_sq == conversions`` (see :meth:`proportion`).
    """

    n: int
    sum: float
    sum_sq: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _check_count(self.n, "n"))
        object.__setattr__(self, "sum", _check_finite(self.sum, "sum"))
        object.__setattr__(self, "sum_sq", _check_finite(self.sum_sq, "sum_sq"))

    @classmethod
    def proportion(cls, n: int, successes: int) -> SampleStats:
        """Statistics of a 0/1 metric with ``successes`` ones among ``n`` units."""
        n = _check_count(n, "n")
        successes = _check_count(successes, "successes")
        if successes > n:
            raise InvalidParameterError(
                "successes", f"'successes' must not exceed 'n' (got successes={successes}, n={n})"
            )
        return cls(n, float(successes), float(successes))

    @classmethod
    def from_values(cls, values: Iterable[float]) -> SampleStats:
        """Statistics of a sequence of per-unit values."""
        arr = np.asarray(list(values), dtype=float)
        return cls(int(arr.size), float(arr.sum()), float(np.square(arr).sum()))

    @property
    def mean(self) -> float:
        """``Σy / n`` (0 when ``n == 0``)."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Sample variance ``(Σy² − (Σy)²/n) / (n − 1)``, clipped at 0 (0 when ``n < 2``)."""
        if self.n < 2:
            return 0.0
        return max((self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1), 0.0)

    def __add__(self, other: SampleStats) -> SampleStats:
        return SampleStats(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq)


@dataclass(frozen=True)
class JointStats:
    """Sufficient statistics of two per-unit quantities ``y`` and ``x`` in one variant.

    Used for ratio metrics (``Σy / Σx``, e.g. revenue per session with users as the unit; Deng et al. 2018)
    and for CUPED (``x`` = the pre-exposure covariate; Deng et al. 2013).
    """

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _check_count(self.n, "n"))
        for name in ("sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy"):
            object.__setattr__(self, name, _check_finite(getattr(self, name), name))

    @classmethod
    def from_values(cls, y: Iterable[float], x: Iterable[float]) -> JointStats:
        """Statistics of paired per-unit values."""
        ya = np.asarray(list(y), dtype=float)
        xa = np.asarray(list(x), dtype=float)
        if ya.shape != xa.shape:
            raise InvalidParameterError(
                "x", f"'x' must have the same length as 'y' (got {xa.size} and {ya.size})"
            )
        return cls(
            int(ya.size),
            float(ya.sum()),
            float(np.square(ya).sum()),
            float(xa.sum()),
            float(np.square(xa).sum()),
            float((xa * ya).sum()),
        )

    @property
    def y(self) -> SampleStats:
        return SampleStats(self.n, self.sum_y, self.sum_y2)

    @property
    def x(self) -> SampleStats:
        return SampleStats(self.n, self.sum_x, self.sum_x2)

    @property
    def covariance(self) -> float:
        """Sample covariance ``(Σxy − ΣxΣy/n) / (n − 1)`` (0 when ``n < 2``)."""
        if self.n < 2:
            return 0.0
        return (self.sum_xy - self.sum_x * self.sum_y / self.n) / (self.n - 1)

    def __add__(self, other: JointStats) -> JointStats:
        return JointStats(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            self.sum_x + other.sum_x,
            self.sum_x2 + other.sum_x2,
            self.sum_xy + other.sum_xy,
        )


@dataclass(frozen=True)
class Interval:
    """A two-sided interval at confidence (or credibility) ``level``."""

    lower: float
    upper: float
    level: float

    def contains(self, value: float) -> bool:
        return self.lower <= value <= self.upper


@dataclass(frozen=True)
class Lift:
    """A treatment-vs-control effect in a named unit.

    ``unit="absolute"``: treatment mean − control mean, in the metric's own unit (rate points, dollars).
    ``unit="relative"``: (treatment mean / control mean) − 1, a fraction (0.05 = +5 %).
    ``estimate``/``ci`` are ``None`` only when the effect is undefined; ``reason`` then says why.
    """

    unit: Literal["absolute", "relative"]
    estimate: float | None
    ci: Interval | None
    reason: str | None = None


@dataclass(frozen=True)
class EffectEstimate:
    """Result of one frequentist comparison of a treatment arm with control.

    Attributes
    ----------
    method:
        The test and interval used, e.g. ``"two-proportion z-test"``.
    alpha:
        Significance level (intervals are at ``1 − alpha``).
    correction:
        Multiple-comparison correction applied to ``adjusted_p_value`` (``"none"`` or ``"holm"``).
    control_mean, treatment_mean:
        The per-unit means (rates) compared.
    absolute, relative:
        The lift in both units, each with its interval.
    statistic, df:
        Test statistic and its degrees of freedom (``None`` for a normal reference distribution).
    p_value, adjusted_p_value:
        Two-sided p-value, before and after the correction (``None`` when not estimable).
    warnings:
        Anything a reader must know (zero conversions, zero variance, small samples).
    """

    method: str
    alpha: float
    correction: str
    control_mean: float
    treatment_mean: float
    absolute: Lift
    relative: Lift
    statistic: float | None
    df: float | None
    p_value: float | None
    adjusted_p_value: float | None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def significant(self) -> bool:
        """Whether the (corrected) p-value is below ``alpha``."""
        return self.adjusted_p_value is not None and self.adjusted_p_value < self.alpha
