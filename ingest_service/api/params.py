"""Query-string and body parsing for the API: every problem is a 400 naming the parameter.

A parameter spec maps a name to a parser ``(name, raw) -> value``; unknown parameters and repeated ones are
refused too, so a typo (``start=`` for ``start_date=``) is an error rather than a silently ignored filter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import falcon

__all__ = ["ParameterError", "choice", "date_param", "number", "parse_query", "check_range", "whole"]

Parser = Callable[[str, str], Any]
_MIN_YEAR, _MAX_YEAR = 2000, 2100


class ParameterError(falcon.HTTPBadRequest):
    """``400`` with ``{"title", "description", "code": "invalid_parameter", "parameter"}``."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(title="Invalid parameter", description=message, code="invalid_parameter")
        self.parameter = name

    def to_dict(self, obj_type: type = dict) -> Any:
        out = super().to_dict(obj_type)
        out["parameter"] = self.parameter
        return out


def _shown(raw: str) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "...'"


def date_param(name: str, raw: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or time (converted to naive UTC), years 2000–2100."""
    try:
        if len(raw) == 10:
            value = datetime.combine(date.fromisoformat(raw), time())
        else:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise ParameterError(
            name, f"'{name}' must be an ISO 8601 date or time such as 2026-01-31 (got {_shown(raw)})"
        ) from None
    if not _MIN_YEAR <= value.year <= _MAX_YEAR:
        raise ParameterError(name, f"'{name}' must be between {_MIN_YEAR} and {_MAX_YEAR} (got {_shown(raw)})")
    return value


def whole(low: int, high: int) -> Parser:
    """A whole number in ``[low, high]``."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ParameterError(name, f"'{name}' must be a whole number from {low} to {high} (got {_shown(raw)})")
        return value

    return parse


def number(low: float, high: float, *, low_open: bool = False) -> Parser:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    bracket = "(" if low_open else "["

    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
            raise ParameterError(
                name, f"'{name}' must be a number in {bracket}{low:g}, {high:g}] (got {_shown(raw)})"
            )
        return value

    return parse


def choice(options: Sequence[str]) -> Parser:
    """One of ``options``."""

    def parse(name: str, raw: str) -> str:
        if raw not in options:
            raise ParameterError(name, f"'{name}' must be one of {', '.join(options)} (got {_shown(raw)})")
        return raw

    return parse


def parse_query(req: falcon.Request, spec: Mapping[str, Parser]) -> dict[str, Any]:
    """The request's query parameters parsed by ``spec`` (absent ones are omitted)."""
    out: dict[str, Any] = {}
    for name, raw in req.params.items():
        if name not in spec:
            expected = ", ".join(spec) if spec else "none"
            raise ParameterError(name, f"unknown query parameter {_shown(name)} (expected: {expected})")
        if isinstance(raw, list):
            raise ParameterError(name, f"'{name}' must be given once (got {len(raw)} values)")
        if raw == "":
            raise ParameterError(name, f"'{name}' must not be empty")
        out[name] = spec[name](name, raw)
    return out


def check_range(params: Mapping[str, Any], max_days: int, now: datetime | None = None) -> None:
    """``end_date`` not before ``start_date`` and the range at most ``max_days`` (an open end counts as now)."""
    start, end = params.get("start_date"), params.get("end_date")
    if start is None:
        return
    if end is not None and end < start:
        raise ParameterError(
            "end_date",
            f"'end_date' must not be before 'start_date' (got end_date={end.isoformat()}, "
            f"start_date={start.isoformat()})",
        )
    stop = end if end is not None else (now or datetime.now(UTC).replace(tzinfo=None))
    if stop - start > timedelta(days=max_days):
        shown = "end_date" if end is not None else "start_date"
        raise ParameterError(
            shown,
            f"the range from 'start_date' to {'end_date' if end is not None else 'now'} must be at most "
            f"{max_days} days (got {(stop - start) / timedelta(days=1):g} days)",
        )
