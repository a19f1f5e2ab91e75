"""SQL building blocks for the BI analyses (SQLAlchemy Core, SQLite and PostgreSQL): revenue events per
person, a person's first value of an attribute, and connection handling. All aggregation runs in SQL.

Revenue follows the architecture contract: ``amount`` of ``payment_succeeded`` and ``subscription_renewed``.
The person of an event is :func:`analytics.identity.person_map`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Float, Select, cast, func, literal, select
from sqlalchemy.engine import Connection, Engine

from analytics.errors import InvalidParameterError
from analytics.identity import person_map
from analytics.schema import analytics_events, assessments

__all__ = [
    "REVENUE_EVENTS",
    "SEGMENTS",
    "connect",
    "first_value_per_person",
    "person_revenue",
    "segment_source",
    "with_connection",
]

REVENUE_EVENTS = ("payment_succeeded", "subscription_renewed")
#: Segment name -> where its value comes from (first occurrence per person).
SEGMENTS = ("risk_level", "industry", "job_title", "country", "source", "medium", "lead_source", "device")
_ASSESSMENT_SEGMENTS = ("risk_level", "industry", "job_title")
_EVENT_COLUMN_SEGMENTS = ("country", "source", "medium", "device")

T = TypeVar("T")


@contextmanager
def connect(source: Engine | Connection) -> Iterator[Connection]:
    """Yield a connection for an engine (opened and closed here) or the given connection."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            yield conn
    elif isinstance(source, Connection):
        yield source
    else:
        raise InvalidParameterError(
            "source", f"'source' must be an Engine or Connection (got {type(source).__name__})"
        )


def with_connection(source: Engine | Connection, fn: Callable[[Connection], T]) -> T:
    """Run ``fn(conn)`` on a connection of ``source``."""
    with connect(source) as conn:
        return fn(conn)


def amount_expr() -> Any:
    """``event_data.amount`` as a float (JSON path, both dialects)."""
    return cast(analytics_events.c.event_data["amount"].as_float(), Float)


def person_revenue(end: Any, start: Any = None) -> Select:
    """Per person: ``revenue`` (sum of amounts), ``orders``, ``first_paid_at``; events in [start, end)."""
    ev = analytics_events
    pm = person_map().subquery("pm_rev")
    cond = [ev.c.event_type.in_(REVENUE_EVENTS), ev.c.timestamp < end]
    if start is not None:
        cond.append(ev.c.timestamp >= start)
    return (
        select(
            pm.c.person_id.label("person"),
            func.sum(amount_expr()).label("revenue"),
            func.count().label("orders"),
            func.min(ev.c.timestamp).label("first_paid_at"),
        )
        .join(pm, pm.c.session_id == ev.c.session_id)
        .where(*cond)
        .group_by(pm.c.person_id)
    )


def first_value_per_person(rows: Select) -> Select:
    """From a select of ``(person, ts, value)``, each person's value at their earliest ``ts`` (ties: smallest
    value), via ``row_number()`` (SQLite >= 3.25 and PostgreSQL)."""
    sub = rows.subquery("fv_rows")
    rn = func.row_number().over(partition_by=sub.c.person, order_by=(sub.c.ts, sub.c.value)).label("rn")
    ranked = select(sub.c.person, sub.c.ts, sub.c.value, rn).subquery("fv_ranked")
    return select(ranked.c.person, ranked.c.ts, ranked.c.value).where(ranked.c.rn == 1)


def segment_source(segment: str, start: Any, end: Any) -> Select:
    """``(person, ts, value)`` of a segment's defining events in [start, end), before taking the first.

    risk_level, industry, job_title: the person's assessments; country, source, medium, device: the event
    columns (events carrying a value); lead_source: ``event_data.lead_source`` of ``lead_captured``.
    """
    if segment not in SEGMENTS:
        raise InvalidParameterError("segment", f"'segment' must be one of {list(SEGMENTS)} (got {segment!r})")
    ev = analytics_events
    pm = person_map().subquery("pm_seg")
    if segment in _ASSESSMENT_SEGMENTS:
        a = assessments
        return (
            select(pm.c.person_id.label("person"), a.c.created_at.label("ts"), a.c[segment].label("value"))
            .join(pm, pm.c.session_id == a.c.session_id)
            .where(a.c.created_at >= start, a.c.created_at < end, a.c[segment].is_not(None))
        )
    if segment == "lead_source":
        value = ev.c.event_data["lead_source"].as_string()
        cond = [ev.c.event_type == "lead_captured"]
    else:
        value = ev.c[segment]
        cond = [ev.c[segment].is_not(None)]
    return (
        select(pm.c.person_id.label("person"), ev.c.timestamp.label("ts"), value.label("value"))
        .join(pm, pm.c.session_id == ev.c.session_id)
        .where(ev.c.timestamp >= start, ev.c.timestamp < end, *cond)
    )


def literal_float(x: float) -> Any:
    """A float SQL literal (keeps arithmetic in floating point on both dialects)."""
    return literal(float(x), Float)
