"""Writing validated events and reading them back as DataFrames.

:func:`write_events` stores a batch in one transaction: the batch's ``event_id``s go into the ``event_keys``
ledger with insert-or-ignore, and only the events whose key was new are inserted into ``analytics_events`` (and,
for ``assessment_submitted``, into ``assessments``). A retried event is therefore counted as a duplicate and stored
once, on SQLite and on partitioned PostgreSQL alike. Either the whole batch is committed or nothing is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError

from analytics.errors import InvalidParameterError
from analytics.events import ATTRIBUTE_KEYS, Event
from analytics.identity import person_map, upsert_sessions
from analytics.schema import analytics_events

__all__ = ["SQLITE_TS", "WriteResult", "bulk_insert", "check_period", "read_events", "to_naive_utc", "write_events"]

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


#: SQLAlchemy's own SQLite DATETIME text format: rows written through the driver must match it exactly so that
#: Core queries compare times correctly.
SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"
EVENT_COLUMNS = ("event_id", "event_type", "user_id", "session_id", "timestamp", "received_at", "event_data",
                 *ATTRIBUTE_KEYS, "created_at", "form_step")
ASSESSMENT_COLUMNS = ("event_id", "user_id", "session_id", "created_at", *_ASSESSMENT_KEYS, "country", "region")
_SQLITE_MAX_ROWS = 4000  # 2 parameters per ledger row, under SQLite's 32,766-parameter limit


@contextmanager
def driver_errors(conn: Connection) -> Iterator[None]:
    """Re-raise errors of direct driver calls as SQLAlchemy's (``OperationalError``, ``IntegrityError``, ...),
    so callers handle them exactly like errors of Core statements."""
    base = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except base as exc:
        raise DBAPIError.instance(None, None, exc, base) from exc


def bulk_insert(conn: Connection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert pre-serialised rows at the driver's full speed, inside the caller's transaction.

    PostgreSQL: ``COPY … FROM STDIN``; SQLite: one prepared ``executemany``. Rows must already be in the
    database's representation (JSON as text, SQLite times as :data:`SQLITE_TS` strings).
    """
    if not rows:
        return
    cols = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cur = raw.cursor()
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in columns)})", rows)
        cur.close()


def _new_keys(conn: Connection, events: Sequence[Event], stamp) -> set[str]:
    """Insert the events' keys into the ledger (insert-or-ignore); return the keys that were not there before."""
    raw = conn.connection.driver_connection
    new: set[str] = set()
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur:
            cur.execute(
                "INSERT INTO event_keys (event_id, event_timestamp) "
                "SELECT * FROM unnest(%s::varchar[], %s::timestamp[]) ON CONFLICT DO NOTHING RETURNING event_id",
                ([e.event_id for e in events], [e.timestamp for e in events]),
            )
            new.update(r[0] for r in cur.fetchall())
        return new
    cur = raw.cursor()
    for lo in range(0, len(events), _SQLITE_MAX_ROWS):
        chunk = events[lo : lo + _SQLITE_MAX_ROWS]
        params: list[Any] = []
        for e in chunk:
            params += (e.event_id, stamp(e.timestamp))
        cur.execute(
            "INSERT INTO event_keys (event_id, event_timestamp) VALUES "
            + ",".join("(?,?)" for _ in chunk)
            + " ON CONFLICT DO NOTHING RETURNING event_id",
            params,
        )
        new.update(r[0] for r in cur.fetchall())
    cur.close()
    return new


def _event_tuple(e: Event, stamp, received: Any) -> tuple:
    d = e.event_data
    attrs = tuple(v if isinstance(v := d.get(k), str) else None for k in ATTRIBUTE_KEYS)
    return (e.event_id, e.event_type, e.user_id, e.session_id, stamp(e.timestamp),
            stamp(e.received_at) if e.received_at else received, json.dumps(d), *attrs, received, form_step(d))


def form_step(data: dict) -> int | None:
    """The typed ``form_step`` column: ``data["step"]`` when it is an integer (not a boolean), else None."""
    v = data.get("step")
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _assessment_tuple(e: Event, stamp) -> tuple:
    d = e.event_data
    return (e.event_id, e.user_id, e.session_id, stamp(e.timestamp), *(d.get(k) for k in _ASSESSMENT_KEYS),
            d.get("country"), d.get("region"))


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
    if conn.dialect.name == "postgresql":
        def stamp(ts: datetime) -> Any:
            return ts
    else:
        def stamp(ts: datetime) -> Any:
            return ts.strftime(SQLITE_TS)
    with driver_errors(conn):
        new = _new_keys(conn, batch, stamp)
        stored = [e for e in batch if e.event_id in new]
        if stored:
            received = stamp(datetime.now(UTC).replace(tzinfo=None))
            rows = [_event_tuple(e, stamp, received) for e in stored]
            bulk_insert(conn, "analytics_events", EVENT_COLUMNS, rows)
            rows = [_assessment_tuple(e, stamp) for e in stored if e.event_type == "assessment_submitted"]
            bulk_insert(conn, "assessments", ASSESSMENT_COLUMNS, rows)
    if stored:
        upsert_sessions(conn, ((e.session_id, e.user_id, e.timestamp) for e in stored))
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
