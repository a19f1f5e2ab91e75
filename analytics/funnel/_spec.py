"""Funnel parameters: steps, exclusions, window and order, validated into one immutable specification."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from analytics.errors import InvalidParameterError

__all__ = ["DEFAULT_WINDOW", "ORDERS", "Exclusion", "FunnelSpec", "Step", "build_spec"]

DEFAULT_WINDOW = timedelta(days=14)
ORDERS = ("ordered", "strict", "unordered")


@dataclass(frozen=True)
class Step:
    """One funnel step: an event name and an optional property filter.

    Attributes
    ----------
    event:
        The event name (``event_type``).
    filters:
        Property equality filters ``{key: value}``; a list/tuple/set value means "one of". Values compare with
        their type (the integer 1 does not match the string ``"1"``).
    label:
        Display name; defaults to the event name followed by the filters.
    """

    event: str
    filters: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def display(self) -> str:
        if self.label:
            return self.label
        if not self.filters:
            return self.event
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.filters.items()))
        return f"{self.event} ({inner})"

    def matches(self, event: str, properties: Mapping[str, Any] | None) -> bool:
        """Whether an event of name ``event`` with ``properties`` matches this step."""
        if event != self.event:
            return False
        props = properties or {}
        for key, wanted in self.filters.items():
            got = props.get(key)
            if isinstance(wanted, list | tuple | set | frozenset):
                if not any(_same(got, w) for w in wanted):
                    return False
            elif not _same(got, wanted):
                return False
        return True


def _same(got: Any, wanted: Any) -> bool:
    """Typed equality: booleans only equal booleans, strings only strings (as SQL JSON extraction does)."""
    if isinstance(got, bool) or isinstance(wanted, bool):
        return type(got) is type(wanted) and got == wanted
    if isinstance(got, str) or isinstance(wanted, str):
        return isinstance(got, str) and isinstance(wanted, str) and got == wanted
    return got is not None and got == wanted


@dataclass(frozen=True)
class Exclusion:
    """Discard an attempt when ``step`` happens strictly between its ``from_step`` and ``to_step`` events."""

    step: Step
    from_step: int
    to_step: int


@dataclass(frozen=True)
class FunnelSpec:
    """A validated funnel definition (see :func:`build_spec`)."""

    steps: tuple[Step, ...]
    window_us: int
    order: str
    exclusions: tuple[Exclusion, ...]
    breakdown: str | None

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def disjoint(self) -> bool:
        """True when no event can match two steps (all step event names differ)."""
        names = [s.event for s in self.steps]
        return len(set(names)) == len(names)


def _as_step(value: Any, name: str) -> Step:
    if isinstance(value, Step):
        return value
    if isinstance(value, str) and value:
        return Step(value)
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], Mapping)
    ):
        return Step(value[0], dict(value[1]))
    raise InvalidParameterError(
        name, f"'{name}' must be an event name or an (event name, property filter) pair (got {value!r})"
    )


def _window_us(window: Any) -> int:
    if isinstance(window, timedelta):
        us = window // timedelta(microseconds=1)
    elif isinstance(window, int | float) and not isinstance(window, bool):
        us = int(round(float(window) * 1_000_000))
    else:
        raise InvalidParameterError(
            "window", f"'window' must be a timedelta or a number of seconds (got {window!r})"
        )
    if us <= 0:
        raise InvalidParameterError("window", f"'window' must be positive (got {window!r})")
    return us


def build_spec(
    steps: Sequence[Any],
    *,
    window: Any = DEFAULT_WINDOW,
    order: str = "ordered",
    exclusions: Sequence[Any] = (),
    breakdown: str | None = None,
) -> FunnelSpec:
    """Validate funnel arguments (rule 8 of ``analytics-semantics.md`` for exclusions).

    Raises
    ------
    InvalidParameterError
        For an empty step list, a malformed step, a non-positive window, an unknown order, or an exclusion whose
        range is not ``0 <= from < to <= last step`` (unordered funnels: only the full range).
    """
    if isinstance(steps, str) or not isinstance(steps, Sequence) or len(steps) == 0:
        raise InvalidParameterError("steps", f"'steps' must be a non-empty list of steps (got {steps!r})")
    parsed = tuple(_as_step(s, f"steps[{i}]") for i, s in enumerate(steps))
    if order not in ORDERS:
        raise InvalidParameterError("order", f"'order' must be one of {', '.join(ORDERS)} (got {order!r})")
    last = len(parsed) - 1
    excl: list[Exclusion] = []
    for i, raw in enumerate(exclusions):
        name = f"exclusions[{i}]"
        if isinstance(raw, Exclusion):
            ex = raw
        elif isinstance(raw, tuple | list) and len(raw) == 3:
            ex = Exclusion(_as_step(raw[0], name), raw[1], raw[2])
        else:
            raise InvalidParameterError(
                name, f"'{name}' must be an (event, from_step, to_step) triple (got {raw!r})"
            )
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (ex.from_step, ex.to_step))
        if not ints or not 0 <= ex.from_step < ex.to_step <= last:
            raise InvalidParameterError(
                name,
                f"'{name}' needs 0 <= from_step < to_step <= {last} (the last step) "
                f"(got from_step={ex.from_step!r}, to_step={ex.to_step!r})",
            )
        if order == "unordered" and (ex.from_step, ex.to_step) != (0, last):
            raise InvalidParameterError(
                name,
                f"'{name}' in an unordered funnel must span the whole funnel, from_step=0 and to_step={last} "
                f"(got from_step={ex.from_step}, to_step={ex.to_step})",
            )
        excl.append(ex)
    if breakdown is not None and (not isinstance(breakdown, str) or not breakdown):
        raise InvalidParameterError(
            "breakdown", f"'breakdown' must be a property name or None (got {breakdown!r})"
        )
    return FunnelSpec(parsed, _window_us(window), order, tuple(excl), breakdown)
