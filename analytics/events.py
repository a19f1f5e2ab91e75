"""The event catalogue and its validation.

Every event has an envelope (``event_type``, ``session_id``, ``user_id``, ``timestamp``, ``event_id``,
``event_data``) and a type-specific ``event_data`` described by :data:`CATALOGUE`. :func:`validate_event` returns a
normalised :class:`Event` or raises :class:`~analytics.errors.ValidationError` listing *every* problem, each as a
:class:`~analytics.errors.FieldError` whose message names the field, what was expected and what was got.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics.errors import FieldError, ValidationError
from analytics.ids import uuid7

__all__ = [
    "ATTRIBUTE_KEYS",
    "CATALOGUE",
    "EVENT_TYPES",
    "PLAN_PRICES",
    "Event",
    "FieldSpec",
    "validate_batch",
    "validate_event",
]

#: The seed's prices per plan (monthly subscription, USD).
PLAN_PRICES: dict[str, float] = {"basic": 49.99, "premium": 79.99, "pro": 99.99}
RISK_LEVELS = ("low", "medium", "high")
LEAD_SOURCES = ("calculator", "newsletter", "webinar", "organic_signup")
DEVICES = ("desktop", "mobile", "tablet")
#: event_data keys copied into their own columns for fast grouping.
ATTRIBUTE_KEYS = ("source", "medium", "campaign", "country", "region", "device")

MAX_ID_LENGTH = 100
MAX_EVENT_ID_LENGTH = 64
MAX_STRING_LENGTH = 500
MAX_DEPTH = 5
MAX_KEYS = 50


@dataclass(frozen=True)
class FieldSpec:
    """One ``event_data`` field: its kind (``str``, ``int``, ``number``, ``bool``), whether required, limits."""

    kind: str
    required: bool = False
    max_length: int = 200
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


def _s(required: bool = False, max_length: int = 200, choices: tuple[str, ...] | None = None) -> FieldSpec:
    return FieldSpec("str", required, max_length, choices=choices)


def _n(required: bool = False, minimum: float | None = 0, maximum: float | None = None) -> FieldSpec:
    return FieldSpec("number", required, minimum=minimum, maximum=maximum)


def _i(required: bool = False, minimum: float | None = None, maximum: float | None = None) -> FieldSpec:
    return FieldSpec("int", required, minimum=minimum, maximum=maximum)


_COMMON: dict[str, FieldSpec] = {
    "source": _s(max_length=100),
    "medium": _s(max_length=100),
    "campaign": _s(max_length=200),
    "country": FieldSpec("str", max_length=2),
    "region": _s(max_length=100),
    "device": _s(choices=DEVICES),
    "test_id": _s(max_length=100),
    "variant": _s(max_length=100),
}
_EMAIL = {"email_type": _s(required=True, max_length=100), "message_id": _s()}

#: event type → its ``event_data`` fields (common attribution/context fields are allowed on every type).
CATALOGUE: dict[str, dict[str, FieldSpec]] = {
    "ai_calculator_opened": {"referrer": _s(max_length=500), "landing_page": _s(max_length=500)},
    "calculator_step_completed": {
        "step": _i(required=True, minimum=1, maximum=20),
        "seconds_on_step": _n(required=True),
    },
    "assessment_submitted": {
        "job_title": _s(required=True, max_length=200),
        "industry": _s(required=True, max_length=100),
        "risk_level": _s(required=True, choices=RISK_LEVELS),
        "risk_score": _n(maximum=100),
        "algorithm": _s(max_length=100),
        "age_range": _s(max_length=20),
        "experience_level": _s(max_length=50),
        "company_size": _s(max_length=50),
        "education": _s(max_length=50),
        "completion_time": _n(),
    },
    "conversion_offer_viewed": {"offer": _s(required=True, max_length=100), "price": _n()},
    "paid_upgrade_clicked": {
        "plan": _s(required=True, max_length=50),
        "price": _n(required=True),
        "currency": _s(max_length=3),
    },
    "lead_captured": {
        "lead_source": _s(required=True, choices=LEAD_SOURCES),
        "email_consent": FieldSpec("bool", required=True),
    },
    "payment_succeeded": {
        "plan": _s(required=True, max_length=50),
        "amount": _n(required=True),
        "currency": _s(max_length=3),
        "processing_time_ms": _n(),
        "order_id": _s(max_length=100),
    },
    "payment_failed": {
        "plan": _s(required=True, max_length=50),
        "amount": _n(required=True),
        "reason": _s(max_length=200),
        "processing_time_ms": _n(),
    },
    "subscription_renewed": {
        "plan": _s(required=True, max_length=50),
        "amount": _n(required=True),
        "period": _i(required=True, minimum=1),
    },
    "subscription_cancelled": {"plan": _s(required=True, max_length=50), "reason": _s(max_length=200)},
    "email_sent": dict(_EMAIL),
    "email_delivered": dict(_EMAIL),
    "email_opened": dict(_EMAIL),
    "email_bounced": dict(_EMAIL),
    "page_load_timing": {"load_time_ms": _n(required=True), "page": _s(max_length=200)},
    "step_load_timing": {"step": _i(required=True, minimum=1, maximum=20), "load_time_ms": _n(required=True)},
    "client_error": {
        "message": _s(required=True, max_length=1000),
        "script": _s(max_length=500),  # the failing script's URL ("source" is the traffic source everywhere)
        "lineno": _i(minimum=0),
        "colno": _i(minimum=0),
        "stack": _s(max_length=4000),
    },
}
EVENT_TYPES: tuple[str, ...] = tuple(CATALOGUE)
#: Per event type, every field it may carry (the common context fields included), merged once.
_FIELDS: dict[str, dict[str, FieldSpec]] = {name: {**_COMMON, **spec} for name, spec in CATALOGUE.items()}


@dataclass
class Event:
    """A validated event, ready to store. ``timestamp`` and ``received_at`` are naive UTC."""

    event_type: str
    session_id: str
    timestamp: datetime
    event_id: str
    event_data: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    received_at: datetime | None = None

    def attributes(self) -> dict[str, Any]:
        """The ``event_data`` values that have their own columns (source, medium, ..., device)."""
        return {k: self.event_data.get(k) for k in ATTRIBUTE_KEYS}


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def parse_timestamp(value: Any) -> datetime:
    """Parse ISO 8601 (``Z`` or offset; naive means UTC) or epoch seconds into naive UTC; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("not finite")
        if abs(value) >= _EPOCH_MS_FROM:
            raise ValueError(f"epoch seconds expected; {value:g} looks like milliseconds (divide by 1000)")
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            digits = value.strip().replace(".", "", 1)
            if digits.isdigit() and len(digits) >= 9:  # "1764964800": epoch seconds sent as text
                raise ValueError("epoch seconds must be a JSON number, not a string") from None
            raise
    else:
        raise ValueError(f"expected an ISO 8601 string or epoch seconds, got {_type_name(value)}")
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


#: Epoch values from here on (the year 5138 in seconds, 1973-03-03 in milliseconds) are read as milliseconds sent by
#: mistake (JavaScript's ``Date.now()``): refused with that hint instead of "year 58898 is out of range".
_EPOCH_MS_FROM = 1e11


def format_duration(td: timedelta) -> str:
    """``7 days``, ``5 minutes``, ``1 day 12 hours``, ``30 seconds``: a window as the error messages state it."""
    total = int(td.total_seconds())
    if total <= 0:
        return f"{td.total_seconds():g} seconds"
    parts = []
    for name, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts)


_CONTAINERS = (dict, list, tuple)


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict) and not any(isinstance(v, _CONTAINERS) for v in value.values()):
        return level + 1  # the common flat object: no recursion
    if isinstance(value, Mapping):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list | tuple):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _non_finite(value: Any, path: str) -> list[str]:
    if isinstance(value, float) and not math.isfinite(value):
        return [path]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _non_finite(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{path}[{i}]")]
    return []


def _check_field(name: str, spec: FieldSpec, value: Any) -> FieldError | None:
    path = f"event_data.{name}"
    if spec.kind == "str":
        if not isinstance(value, str):
            return FieldError(path, "type", f"'{path}' must be a string (got {_type_name(value)})")
        if len(value) > spec.max_length:
            return FieldError(
                path, "too_long", f"'{path}' must be at most {spec.max_length} characters (got {len(value)})"
            )
        if spec.choices and value not in spec.choices:
            return FieldError(
                path, "invalid_choice", f"'{path}' must be one of {', '.join(spec.choices)} (got {_describe(value)})"
            )
        return None
    if spec.kind == "bool":
        if not isinstance(value, bool):
            return FieldError(path, "type", f"'{path}' must be a boolean (got {_type_name(value)})")
        return None
    # numbers
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "an integer" if spec.kind == "int" else "a number"
        return FieldError(path, "type", f"'{path}' must be {kind} (got {_type_name(value)})")
    if isinstance(value, float) and not math.isfinite(value):
        return FieldError(path, "not_finite", f"'{path}' must be a finite number (got {value})")
    if spec.kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
        return FieldError(path, "type", f"'{path}' must be an integer (got {value})")
    if spec.minimum is not None and value < spec.minimum:
        return FieldError(path, "out_of_range", f"'{path}' must be >= {spec.minimum:g} (got {value})")
    if spec.maximum is not None and value > spec.maximum:
        return FieldError(path, "out_of_range", f"'{path}' must be <= {spec.maximum:g} (got {value})")
    return None


def _check_id(raw: Mapping[str, Any], name: str, required: bool, max_length: int, errors: list[FieldError]) -> None:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            errors.append(FieldError(name, "required", f"'{name}' is required"))
        return
    if not isinstance(value, str):
        errors.append(FieldError(name, "type", f"'{name}' must be a string (got {_type_name(value)})"))
    elif len(value) > max_length:
        errors.append(
            FieldError(name, "too_long", f"'{name}' must be at most {max_length} characters (got {len(value)})")
        )
    elif not value.isprintable():
        errors.append(
            FieldError(
                name, "invalid_characters",
                f"'{name}' must not contain control, separator or invisible characters (got {_describe(value)})",
            )  # fmt: skip
        )
    elif value.isspace():
        errors.append(FieldError(name, "blank", f"'{name}' must not be blank (got {_describe(value)})"))


def validate_event(
    raw: Any,
    *,
    now: datetime | None = None,
    max_future: timedelta = timedelta(minutes=5),
    max_age: timedelta | None = None,
) -> Event:
    """Validate one raw event and return it normalised.

    Parameters
    ----------
    raw:
        A mapping with the envelope fields (see module docstring).
    now:
        The server's time (naive UTC); default: the current time. Used for the default timestamp and the window.
    max_future:
        Events more than this ahead of ``now`` are rejected (``future_timestamp``).
    max_age:
        When set, events older than this are rejected (``too_old``).

    Raises
    ------
    ValidationError
        With one :class:`FieldError` per problem found (all of them, not only the first).
    """
    now = now or _utcnow()
    fast = _clean_event(raw, now, max_future, max_age)
    if fast is not None:
        return fast
    if not isinstance(raw, (dict, Mapping)):
        raise ValidationError([FieldError("", "type", f"an event must be a JSON object (got {_type_name(raw)})")])
    errors: list[FieldError] = []
    event_type = raw.get("event_type")
    spec: dict[str, FieldSpec] | None = None
    if event_type is None or event_type == "":
        errors.append(FieldError("event_type", "required", "'event_type' is required"))
    elif not isinstance(event_type, str):
        errors.append(FieldError("event_type", "type", f"'event_type' must be a string (got {_type_name(event_type)})"))
    elif event_type not in CATALOGUE:
        errors.append(
            FieldError(
                "event_type", "unknown_event_type", f"'event_type' {_describe(event_type)} is not a known event type"
            )
        )
    else:
        spec = CATALOGUE[event_type]
    _check_id(raw, "session_id", True, MAX_ID_LENGTH, errors)
    _check_id(raw, "user_id", False, MAX_ID_LENGTH, errors)
    _check_id(raw, "event_id", False, MAX_EVENT_ID_LENGTH, errors)

    timestamp = now
    if raw.get("timestamp") is not None:
        try:
            timestamp = parse_timestamp(raw["timestamp"])
        except (ValueError, OverflowError, OSError) as exc:
            errors.append(
                FieldError(
                    "timestamp",
                    "type",
                    f"'timestamp' must be an ISO 8601 time or epoch seconds (got {_describe(raw['timestamp'])}: {exc})",
                )
            )
        else:
            if timestamp > now + max_future:
                errors.append(
                    FieldError(
                        "timestamp",
                        "future_timestamp",
                        f"'timestamp' must not be more than {format_duration(max_future)} ahead of the server's time "
                        f"(got {timestamp.isoformat()}Z, server {now.isoformat()}Z)",
                    )
                )
            elif max_age is not None and timestamp < now - max_age:
                errors.append(
                    FieldError(
                        "timestamp",
                        "too_old",
                        f"'timestamp' must not be older than {format_duration(max_age)} (got {timestamp.isoformat()}Z, "
                        f"server {now.isoformat()}Z)",
                    )
                )

    data = raw.get("event_data")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        errors.append(FieldError("event_data", "type", f"'event_data' must be an object (got {_type_name(data)})"))
        data = {}
    else:
        data = dict(data)
        if len(data) > MAX_KEYS:
            errors.append(
                FieldError("event_data", "too_large", f"'event_data' must have at most {MAX_KEYS} keys (got {len(data)})")
            )
        depth = _depth(data)
        if depth > MAX_DEPTH:
            errors.append(
                FieldError("event_data", "too_deep", f"'event_data' must be nested at most {MAX_DEPTH} deep (got {depth})")
            )
        if spec is not None:
            fields = _FIELDS[event_type]
            for name, fspec in fields.items():
                value = data.get(name)
                if value is None:
                    if fspec.required:
                        errors.append(FieldError(f"event_data.{name}", "required", f"'event_data.{name}' is required"))
                    continue
                problem = _check_field(name, fspec, value)
                if problem:
                    errors.append(problem)
            for name, value in data.items():
                if name in fields:
                    continue
                if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
                    errors.append(
                        FieldError(
                            f"event_data.{name}",
                            "too_long",
                            f"'event_data.{name}' must be at most {MAX_STRING_LENGTH} characters (got {len(value)})",
                        )
                    )
            extras = {k: v for k, v in data.items() if k not in fields}
            if extras:
                for path in _non_finite(extras, "event_data"):
                    errors.append(FieldError(path, "not_finite", f"'{path}' must be a finite number"))
    if errors:
        raise ValidationError(errors)
    if spec is not None and isinstance(data.get("step"), float):
        data["step"] = int(data["step"])
    if isinstance(data.get("country"), str):
        data["country"] = data["country"].upper()
    return Event(
        event_type=event_type,
        session_id=raw["session_id"],
        user_id=raw.get("user_id") or None,
        timestamp=timestamp,
        event_id=raw.get("event_id") or uuid7(),
        event_data=data,
        received_at=now,
    )


_SCALARS = (str, int, float, bool, type(None))


def _field_ok(spec: FieldSpec, value: Any) -> bool:
    """True when ``_check_field`` would find nothing wrong (exact types only; anything else: False)."""
    t = type(value)
    if spec.kind == "str":
        return t is str and len(value) <= spec.max_length and (not spec.choices or value in spec.choices)
    if spec.kind == "bool":
        return t is bool
    if t is int:
        pass
    elif t is float:
        if not math.isfinite(value) or (spec.kind == "int" and not value.is_integer()):
            return False
    else:
        return False
    return (spec.minimum is None or value >= spec.minimum) and (spec.maximum is None or value <= spec.maximum)


def _plain(value: str) -> bool:
    """An optional id :func:`_check_id` accepts: empty (absent), or printable and not only spaces."""
    return not value or (value.isprintable() and not value.isspace())


def _clean_event(raw: Any, now: datetime, max_future: timedelta, max_age: timedelta | None) -> Event | None:
    """The fast path of :func:`validate_event` for the common event: plain JSON types, a known type, a flat
    ``event_data`` whose every value passes. Returns the same :class:`Event` the full check would, or None when
    anything needs the full check (which then finds and names every problem)."""
    if type(raw) is not dict:
        return None
    event_type = raw.get("event_type")
    fields = _FIELDS.get(event_type) if type(event_type) is str else None
    session_id = raw.get("session_id")
    user_id = raw.get("user_id")
    event_id = raw.get("event_id")
    if (
        fields is None
        or type(session_id) is not str
        or not 0 < len(session_id) <= MAX_ID_LENGTH
        or not session_id.isprintable()
        or session_id.isspace()
        or not (user_id is None or (type(user_id) is str and len(user_id) <= MAX_ID_LENGTH and _plain(user_id)))
        or not (event_id is None or (type(event_id) is str and len(event_id) <= MAX_EVENT_ID_LENGTH and _plain(event_id)))
    ):
        return None
    timestamp = now
    if raw.get("timestamp") is not None:
        try:
            timestamp = parse_timestamp(raw["timestamp"])
        except (ValueError, OverflowError, OSError, TypeError):
            return None
        if timestamp > now + max_future or (max_age is not None and timestamp < now - max_age):
            return None
    data = raw.get("event_data")
    if data is None:
        data = {}
    elif type(data) is not dict or len(data) > MAX_KEYS:
        return None
    else:
        data = dict(data)
    for name, value in data.items():
        if type(value) not in _SCALARS:
            return None
        spec = fields.get(name)
        if spec is None:
            if (type(value) is str and len(value) > MAX_STRING_LENGTH) or (
                type(value) is float and not math.isfinite(value)
            ):
                return None
        elif value is not None and not _field_ok(spec, value):
            return None
    for name, spec in fields.items():
        if spec.required and data.get(name) is None:
            return None
    if type(data.get("step")) is float:
        data["step"] = int(data["step"])
    if type(data.get("country")) is str:
        data["country"] = data["country"].upper()
    return Event(
        event_type=event_type,
        session_id=session_id,
        user_id=user_id or None,
        timestamp=timestamp,
        event_id=event_id or uuid7(),
        event_data=data,
        received_at=now,
    )


def validate_batch(
    raws: Sequence[Any], **kwargs: Any
) -> tuple[list[tuple[int, Event]], list[tuple[int, list[FieldError]]]]:
    """Validate each event of a batch; returns ``(valid, rejected)`` as ``(index, event)`` and
    ``(index, errors)`` pairs, so a caller can store the valid ones and tell which others failed and why."""
    valid: list[tuple[int, Event]] = []
    rejected: list[tuple[int, list[FieldError]]] = []
    for i, raw in enumerate(raws):
        try:
            valid.append((i, validate_event(raw, **kwargs)))
        except ValidationError as exc:
            rejected.append((i, exc.errors))
    return valid, rejected
