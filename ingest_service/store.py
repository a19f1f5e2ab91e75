"""What the group writer does with a group: every request's prepared events in one :func:`write_prepared` call.

Requests serialise their events (:func:`analytics.storage.prepare_events`) in their own thread, before they queue;
the writer's transaction -- which on SQLite holds the database's single write lock -- then only runs the driver's
statements: one insert-or-ignore into the ``event_keys`` ledger (its ``RETURNING`` tells which ids are new), the
inserts of the new rows, the sessions upsert. An id is *accepted* for the first request of the group that carries
it when the ledger did not hold it, and a *duplicate* everywhere else; the answer is exact on both databases
because the ledger insert itself decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from analytics.events import Event
from analytics.storage import PreparedEvents, write_exposures, write_prepared

__all__ = ["EventsOutcome", "store_event_groups", "store_exposure_groups"]


@dataclass
class EventsOutcome:
    """One request's share of a group write: counts and the events that were newly stored."""

    accepted: int = 0
    duplicates: int = 0
    new_events: list[Event] = field(default_factory=list)

    @classmethod
    def of(cls, events: Sequence[Event], new_indices: Sequence[int]) -> EventsOutcome:
        """The outcome of ``events`` of which the positions ``new_indices`` were newly stored."""
        new = [events[i] for i in new_indices]
        return cls(accepted=len(new), duplicates=len(events) - len(new), new_events=new)


def store_event_groups(conn: Connection, payloads: Sequence[PreparedEvents]) -> list[tuple[int, ...]]:
    """Store every request's prepared events in one write; return, per request (same order), the positions of
    its events that were newly stored. Payloads may arrive as plain tuples (they pickle at a third of the cost)."""
    payloads = [PreparedEvents._make(p) for p in payloads]
    new = write_prepared(conn, payloads)
    if len(new) == sum(len(p.key_rows) for p in payloads):  # every id distinct and new: each request stored all
        return [tuple(range(len(p.key_rows))) for p in payloads]
    results = []
    for prepared in payloads:
        mine = []
        for i, (event_id, _) in enumerate(prepared.key_rows):
            if event_id in new:
                new.discard(event_id)  # the first carrier of a new id stored it; later ones are duplicates
                mine.append(i)
        results.append(tuple(mine))
    return results


def store_exposure_groups(conn: Connection, payloads: Sequence[Sequence[tuple]]) -> list[None]:
    """Record the first exposures of a group (tuples in :data:`~analytics.storage.EXPOSURE_COLUMNS` order) in
    one insert-or-ignore. Plain storage code: the writer process must not import the statistics behind
    :mod:`analytics.experiments` (measured: 6 s under load, during which no event was written)."""
    write_exposures(conn, [row for rows in payloads for row in rows])
    return [None] * len(payloads)
