"""What the group writer does with a group: all events of all requests in one :func:`write_events` call.

:func:`analytics.storage.write_events` already stores a batch with insert-or-ignore on the ``event_keys`` ledger,
keeping the first of repeated ids. Calling it once per *group* (not once per request) pays its per-call cost
(statement compilation, three statements) once per commit. Which request's events were new is learned with one
``SELECT`` of the group's ids in ``event_keys`` inside the same transaction, before the write: an id is new for
the first request of the group that carries it, if the ledger did not hold it. On SQLite the transaction holds
the write lock from its start (``BEGIN IMMEDIATE``), so the answer is exact; on PostgreSQL a concurrent writer of
the *same* id in another worker could make a request report ``accepted`` for an event the other one stored --
the event is still stored exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from analytics.events import Event
from analytics.experiments import record_exposures
from analytics.schema import event_keys
from analytics.storage import write_events

__all__ = ["EventsOutcome", "store_event_groups", "store_exposure_groups"]

_IN_CHUNK = 500


@dataclass
class EventsOutcome:
    """One request's share of a group write: counts and the events that were newly stored."""

    accepted: int = 0
    duplicates: int = 0
    new_events: list[Event] = field(default_factory=list)


def _existing(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for lo in range(0, len(ids), _IN_CHUNK):
        chunk = ids[lo : lo + _IN_CHUNK]
        found.update(conn.execute(select(event_keys.c.event_id).where(event_keys.c.event_id.in_(chunk))).scalars())
    return found


def store_event_groups(conn: Connection, payloads: Sequence[list[Event]]) -> list[EventsOutcome]:
    """Store every request's events in one write; return each request's outcome (same order)."""
    ids = list(dict.fromkeys(e.event_id for events in payloads for e in events))
    seen = _existing(conn, ids)
    outcomes = []
    for events in payloads:
        out = EventsOutcome()
        for e in events:
            if e.event_id in seen:
                out.duplicates += 1
            else:
                seen.add(e.event_id)
                out.accepted += 1
                out.new_events.append(e)
        outcomes.append(out)
    write_events(conn, [e for events in payloads for e in events])
    return outcomes


def store_exposure_groups(conn: Connection, payloads: Sequence[list[dict[str, Any]]]) -> list[None]:
    """Record the first exposures of a group in one insert-or-ignore."""
    rows = list({(r["test_id"], r["unit_id"]): r for rows in payloads for r in rows}.values())
    record_exposures(conn, rows)
    return [None] * len(payloads)
