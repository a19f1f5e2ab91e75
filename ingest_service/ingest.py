"""From a parsed body to validated, clock-corrected events and the per-index rejections.

Clock skew. Browsers' clocks are often minutes or hours off. The client sends ``sent_at`` (its clock when the
request left); the server knows when it arrived (``received_at``). Their difference ``d = received_at - sent_at``
is the client's clock offset plus the network latency. When ``|d|`` exceeds a threshold (default 30 s, far above
a normal latency) the latency is negligible against the offset and each event's time is corrected to
``timestamp + d`` -- the rule of Segment (``timestamp = receivedAt - (sentAt - originalTimestamp)``) and PostHog.
Below the threshold ``d`` is indistinguishable from latency and timestamps are kept as sent. The acceptance window
(``max_age`` / ``max_future``) is applied to the corrected time: validating with ``now - d`` as the server time
is the same test in the client's clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import falcon

from analytics.errors import FieldError, ValidationError
from analytics.events import CATALOGUE, Event, parse_timestamp, validate_event
from analytics.privacy import protect_event  # issue 11
from ingest_service.body import string_problem

_MAX_SKEW = timedelta(days=3650)

__all__ = ["Parsed", "Rejection", "clock_offset", "extract_events", "validate_request"]


@dataclass(frozen=True)
class Rejection:
    """One problem of one event of the request (``index`` is its position in the batch, 0 for a single event)."""

    index: int
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "code": self.code, "message": self.message}


@dataclass
class Parsed:
    """Validated events of one request and the rejections, plus how many events had their clock corrected."""

    events: list[Event] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    rejected_types: list[str] = field(default_factory=list)
    corrected: int = 0


def _bad(code: str, message: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title="Bad request", description=message, code=code)


def extract_events(body: Any, max_batch: int) -> tuple[list[Any], Any]:
    """The raw events of a body and its batch-level ``sent_at``.

    Accepted shapes: one event object; ``{"batch": [...], "sent_at": ...}``; a bare JSON array of events.
    """
    if isinstance(body, list):
        raws, sent_at = body, None
    elif isinstance(body, Mapping):
        if "batch" in body:
            raws, sent_at = body["batch"], body.get("sent_at")
            if not isinstance(raws, list):
                raise _bad("invalid_batch", f"'batch' must be an array of events (got {_kind(raws)})")
        else:
            return [body], None
    else:
        raise _bad("invalid_body", f"the body must be a JSON object or array (got {_kind(body)})")
    if not raws:
        raise _bad("empty_batch", "'batch' must hold at least one event (got 0)")
    if len(raws) > max_batch:
        raise falcon.HTTPContentTooLarge(
            title="Too many events",
            description=f"a batch must hold at most {max_batch} events (got {len(raws)})",
            code="too_many_events",
        )
    return raws, sent_at


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def clock_offset(sent_at: Any, now: datetime, threshold: timedelta, name: str = "sent_at") -> timedelta:
    """The correction to add to the client's times: ``now - sent_at`` when larger than ``threshold``, else 0.

    Raises
    ------
    ValueError
        When ``sent_at`` is not an ISO 8601 time or epoch seconds; the message names the field and the value.
    """
    if sent_at is None:
        return timedelta(0)
    try:
        sent = parse_timestamp(sent_at)
    except (ValueError, OverflowError, OSError) as exc:
        shown = repr(sent_at)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ValueError(f"'{name}' must be an ISO 8601 time or epoch seconds (got {shown}: {exc})") from None
    drift = now - sent
    if abs(drift) > _MAX_SKEW:
        raise ValueError(
            f"'{name}' must be within {_MAX_SKEW.days} days of the server's time "
            f"(got {sent.isoformat()}Z, server {now.isoformat()}Z)"
        )
    return drift if abs(drift) > threshold else timedelta(0)


def validate_request(
    raws: list[Any],
    batch_sent_at: Any,
    *,
    now: datetime,
    max_age: timedelta,
    max_future: timedelta,
    skew_threshold: timedelta,
    check_strings: bool = False,
) -> Parsed:
    """Validate each raw event with :func:`analytics.events.validate_event`, correcting its clock.

    A batch-level ``sent_at`` applies to every event; an event's own ``sent_at`` overrides it. A malformed
    batch-level ``sent_at`` is a request error (400 ``invalid_sent_at``); a malformed per-event one rejects
    that event only. With ``check_strings`` (the body held a ``\\u0000`` or surrogate escape), an event holding
    a string no database can store -- a NUL, a lone surrogate -- is rejected (``invalid_string``, the field's
    path); the batch's other events are not affected.
    """
    try:
        batch_offset = clock_offset(batch_sent_at, now, skew_threshold)
    except ValueError as exc:
        raise _bad("invalid_sent_at", str(exc)) from None
    out = Parsed()
    for index, raw in enumerate(raws):
        if check_strings:
            problem = string_problem(raw)
            if problem is not None:
                out.rejected.append(Rejection(index, problem[0], "invalid_string", problem[1]))
                out.rejected_types.append(_type_of(raw))
                continue
        offset = batch_offset
        if isinstance(raw, Mapping) and raw.get("sent_at") is not None:
            try:
                offset = clock_offset(raw["sent_at"], now, skew_threshold)
            except ValueError as exc:
                out.rejected.append(Rejection(index, "sent_at", "type", str(exc)))
                out.rejected_types.append(_type_of(raw))
                continue
        try:
            event = validate_event(raw, now=now - offset, max_future=max_future, max_age=max_age)
        except ValidationError as exc:
            errors: list[FieldError] = exc.errors
            out.rejected.extend(Rejection(index, e.field, e.code, e.message) for e in errors)
            out.rejected_types.append(_type_of(raw))
            continue
        if offset:
            event.timestamp = event.timestamp + offset
            out.corrected += 1
        event.received_at = now
        protect_event(event)  # issue 11: pseudonymous user id, no e-mail addresses (analytics.privacy)
        out.events.append(event)
        out.event_types.append(event.event_type)
    return out


def _type_of(raw: Any) -> str:
    """A rejected event's type as a metric name component: a catalogue type, ``unknown`` for any other string,
    ``invalid`` for anything else. Never the client's string itself: every made-up type would have been a new
    statsd series (a new Graphite file), so one client could grow the metrics store without bound."""
    value = raw.get("event_type") if isinstance(raw, Mapping) else None
    if isinstance(value, str):
        return value if value in CATALOGUE else "unknown"
    return "invalid"
