"""Argument checks shared by the LTV models (raise :class:`analytics.errors.InvalidParameterError`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.errors import InvalidParameterError


def _as_float_array(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """Return ``values`` as a finite 1-D float array or raise naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(name, f"'{name}' must be numeric (got {values!r:.60})") from exc
    if arr.size == 0:
        raise InvalidParameterError(name, f"'{name}' must not be empty (got 0 values)")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InvalidParameterError(
            name, f"'{name}' must be finite (got {arr[bad][0]} at position {int(np.flatnonzero(bad)[0])})"
        )
    return arr


def _check_same_length(names: Sequence[str], arrays: Sequence[NDArray[np.float64]]) -> None:
    """Raise when the arrays differ in length."""
    lengths = {n: a.size for n, a in zip(names, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{n}={k}" for n, k in lengths.items())
        raise InvalidParameterError(names[0], f"{', '.join(names)} must have the same length (got {got})")


def _check_nonnegative(name: str, arr: NDArray[np.float64]) -> None:
    """Raise when any value is negative."""
    if (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        raise InvalidParameterError(name, f"'{name}' must be >= 0 (got {arr[i]} at position {i})")


def _check_positive_scalar(name: str, value: float) -> float:
    """Return ``value`` as float when finite and > 0, else raise."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(name, f"'{name}' must be a positive number (got {value!r})") from exc
    if not np.isfinite(v) or v <= 0:
        raise InvalidParameterError(name, f"'{name}' must be a positive number (got {value!r})")
    return v
