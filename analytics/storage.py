"""Writing validated events and reading them back as DataFrames.

:func:`write_events` stores a batch in one transaction: the batch's ``event_id``s go into the ``event_keys``
ledger with insert-or-ignore, and only the events whose key was new are inserted into ``analytics_events`` (and,
for ``assessment_submitted``, into ``assessments``). A retried event is therefore counted as a duplicate and stored
once, on SQLite and on partitioned PostgreSQL alike. Either the whole batch is committed or nothing is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from analytics.errors import InvalidParameterError
from analytics.events import ATTRIBUTE_KEYS, Event
from analytics.identity import person_map, upsert_sessions
from analytics.schema import analytics_events, assessments, event_keys

__all__ = ["WriteResult", "read_events", "to_naive_utc", "write_events"]

_ASSESSMENT_KEYS = (
    "job_title",
    "industry",
    "risk_level",
    "risk_score",
    "completion_time",
    "age_range",
    "experience_level",
    "company_size",
    "education",
)
_CHUNK = 5000


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a write: events newly stored and events ignored as repeats of a stored ``event_id``."""

    accepted: int
    duplicates: int


def _insert_ignore(conn: Connection, table, rows: list[dict[str, Any]]):
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).values(rows).on_conflict_do_nothing()
    return sqlite.insert(table).values(rows).on_conflict_do_nothing()


def _new_keys(conn: Connection, events: Sequence[Event]) -> set[str]:
    """Insert the events' keys into the ledger; return the keys that were not there before."""
    new: set[str] = set()
    # One constant statement run as an executemany (SQLAlchemy's "insertmanyvalues" with RETURNING): compiled
    # once and cached, where a .values(rows) statement was compiled anew for every batch (~0.5-1 ms per call).
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(event_keys).on_conflict_do_nothing().returning(event_keys.c.event_id)
    for start in range(0, len(events), _CHUNK):
        chunk = events[start : start + _CHUNK]
        rows = [{"event_id": e.event_id, "event_timestamp": e.timestamp} for e in chunk]
        new.update(conn.execute(stmt, rows).scalars())
    return new


def _event_row(e: Event, received_at: datetime) -> dict[str, Any]:
    row = {
        "event_id": e.event_id,
        "event_type": e.event_type,
        "user_id": e.user_id,
        "session_id": e.session_id,
        "timestamp": e.timestamp,
        "received_at": e.received_at or received_at,
        "event_data": e.event_data,
        "created_at": received_at,
    }
    for key in ATTRIBUTE_KEYS:
        value = e.event_data.get(key)
        row[key] = value if isinstance(value, str) else None
    return row


def _assessment_row(e: Event) -> dict[str, Any]:
    d = e.event_data
    row = {k: d.get(k) for k in _ASSESSMENT_KEYS}
    row.update(
        event_id=e.event_id,
        user_id=e.user_id,
        session_id=e.session_id,
        country=d.get("country"),
        region=d.get("region"),
        created_at=e.timestamp,
    )
    return row


def write_events(target: Engine | Connection, events: Iterable[Event]) -> WriteResult:
    """Store validated events in one transaction, ignoring repeated ``event_id``s.

    Parameters
    ----------
    target:
        An engine (a transaction is opened and committed here) or a connection inside the caller's transaction.
    events:
        Events from :func:`analytics.events.validate_event`. Repeats of one ``event_id`` inside the batch are
        stored once, like repeats of an already stored one.

    Returns
    -------
    WriteResult
        ``accepted`` newly stored, ``duplicates`` ignored.
    """
    events = list(events)
    if isinstance(target, Engine):
        with target.begin() as conn:
            return write_events(conn, events)
    conn = target
    if not events:
        return WriteResult(0, 0)
    unique: dict[str, Event] = {}
    for e in events:
        unique.setdefault(e.event_id, e)
    batch = list(unique.values())
    new = _new_keys(conn, batch)
    stored = [e for e in batch if e.event_id in new]
    if stored:
        received = datetime.now(UTC).replace(tzinfo=None)
        conn.execute(analytics_events.insert(), [_event_row(e, received) for e in stored])
        upsert_sessions(conn, ((e.session_id, e.user_id, e.timestamp) for e in stored))
        rows = [_assessment_row(e) for e in stored if e.event_type == "assessment_submitted"]
        if rows:
            conn.execute(assessments.insert(), rows)
    return WriteResult(accepted=len(stored), duplicates=len(events) - len(stored))


def to_naive_utc(value: date | datetime | str | pd.Timestamp, name: str = "date") -> datetime:
    """Normalise a date, datetime, ISO string or Timestamp to naive UTC (dates mean midnight UTC)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(name, f"'{name}' must be a date or ISO 8601 time (got {value!r})") from exc
    if ts is pd.NaT:
        raise InvalidParameterError(name, f"'{name}' must be a date or ISO 8601 time (got {value!r})")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def check_period(start: Any, end: Any) -> tuple[datetime, datetime]:
    """Parse ``start``/``end`` and check that ``end`` is not before ``start``."""
    s, e = to_naive_utc(start, "start_date"), to_naive_utc(end, "end_date")
    if e < s:
        raise InvalidParameterError(
            "end_date",
            f"'end_date' must not be before 'start_date' (got end_date={e.date() if e.time() == datetime.min.time() else e}, "
            f"start_date={s.date() if s.time() == datetime.min.time() else s})",
        )
    return s, e


def read_events(
    target: Engine | Connection,
    start: Any,
    end: Any,
    event_types: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Events with ``start <= timestamp < end`` as a DataFrame, oldest first.

    Columns: ``id, event_id, event_type, user_id, session_id, person_id, timestamp, received_at, event_data,
    source, medium, campaign, country, region, device``; times are tz-aware UTC, ``event_data`` holds dicts,
    ``person_id`` is resolved by :func:`analytics.identity.person_map`.
    """
    s, e = check_period(start, end)
    pm = person_map().subquery("pm")
    ev = analytics_events
    stmt = (
        select(
            ev.c.id,
            ev.c.event_id,
            ev.c.event_type,
            ev.c.user_id,
            ev.c.session_id,
            pm.c.person_id,
            ev.c.timestamp,
            ev.c.received_at,
            ev.c.event_data,
            *[ev.c[k] for k in ATTRIBUTE_KEYS],
        )
        .join(pm, pm.c.session_id == ev.c.session_id)
        .where(ev.c.timestamp >= s, ev.c.timestamp < e)
        .order_by(ev.c.timestamp, ev.c.id)
    )
    if event_types:
        stmt = stmt.where(ev.c.event_type.in_(list(event_types)))
    if isinstance(target, Engine):
        with target.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = target.execute(stmt).all()
    columns = ["id", "event_id", "event_type", "user_id", "session_id", "person_id", "timestamp", "received_at",
               "event_data", *ATTRIBUTE_KEYS]
    df = pd.DataFrame.from_records(rows, columns=columns)
    for col in ("timestamp", "received_at"):
        df[col] = pd.to_datetime(df[col]).dt.tz_localize("UTC")
    df["id"] = df["id"].astype("int64")
    for col in ["event_id", "event_type", "user_id", "session_id", "person_id", *ATTRIBUTE_KEYS]:
        df[col] = df[col].astype("string")
    return df
