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
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError

from analytics.errors import InvalidParameterError
from analytics.events import ATTRIBUTE_KEYS, Event
from analytics.identity import person_map
from analytics.schema import analytics_events

__all__ = [
    "SQLITE_TS",
    "PreparedEvents",
    "WriteResult",
    "EXPOSURE_COLUMNS",
    "bulk_insert",
    "check_period",
    "json_text",
    "prepare_events",
    "read_events",
    "to_naive_utc",
    "write_events",
    "write_exposures",
    "write_prepared",
]

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
_SQLITE_MAX_PARAMS = 32_000  # SQLite's limit is 32,766 bound parameters per statement


@contextmanager
def driver_errors(conn: Connection) -> Iterator[None]:
    """Re-raise errors of direct driver calls as SQLAlchemy's (``OperationalError``, ``IntegrityError``, ...),
    so callers handle them exactly like errors of Core statements."""
    base = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except base as exc:
        raise DBAPIError.instance(None, None, exc, base) from exc


def bulk_insert(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert pre-serialised rows at the driver's full speed, inside the caller's transaction.

    PostgreSQL: ``COPY … FROM STDIN``. SQLite: multi-row ``INSERT … VALUES (…), (…)`` statements of up to
    32,000 parameters -- one ``sqlite3_step`` per statement, where ``executemany`` steps (and gives up and retakes
    Python's GIL) once per row. Rows must already be in the database's representation (JSON as text, SQLite
    times as :data:`SQLITE_TS` strings).
    """
    if not rows:
        return
    cols = _column_list(tuple(columns))
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    _sqlite_values(raw, f"INSERT INTO {table} ({cols}) VALUES {{values}}", len(columns), rows)


def _sqlite_values(raw: Any, sql: str, width: int, rows: Sequence[Sequence]) -> None:
    """Run ``sql`` (with a ``{values}`` slot) over ``rows`` as multi-row VALUES lists, chunked under SQLite's
    32,766-parameter limit."""
    per = max(1, _SQLITE_MAX_PARAMS // width)
    if len(rows) <= per:  # the writer's usual case: one statement, its text made once per row count
        raw.execute(_values_sql(sql, width, len(rows)), list(chain.from_iterable(rows)))
        return
    cur = raw.cursor()
    try:
        for lo in range(0, len(rows), per):
            chunk = rows[lo : lo + per]
            cur.execute(_values_sql(sql, width, len(chunk)), list(chain.from_iterable(chunk)))
    finally:
        cur.close()


@lru_cache(maxsize=512)
def _values_sql(sql: str, width: int, n: int) -> str:
    """``sql`` with ``n`` rows of ``width`` placeholders in its ``{values}`` slot (cached: groups repeat sizes, and
    the same text lets SQLite's statement cache skip the parse)."""
    one = "(" + ",".join("?" * width) + ")"
    return sql.format(values=",".join([one] * n))


@lru_cache(maxsize=64)
def _column_list(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _stamp_for(dialect: str):
    if dialect == "postgresql":
        return lambda ts: ts
    return _sqlite_stamp


def _sqlite_stamp(ts: datetime) -> str:
    """:data:`SQLITE_TS` text (``isoformat`` with microseconds always shown is the same, at half the cost)."""
    return ts.isoformat(" ", "microseconds")


class PreparedEvents(NamedTuple):
    """Validated events already in one database's row format, so a writer stores them without per-event Python.

    Built by :func:`prepare_events` (in the request's thread or process, outside any lock); written by
    :func:`write_prepared`. ``key_rows`` (``event_id``, time), ``event_rows`` and ``session_rows`` are parallel to
    the events they were made from; ``assessment_rows`` holds the ``assessment_submitted`` events' rows, each
    starting with its ``event_id``. A named tuple of tuples of str/int/None (datetimes for PostgreSQL): cheap to
    pickle to the writer process.
    """

    dialect: str
    key_rows: tuple[tuple, ...]
    event_rows: tuple[tuple, ...]
    assessment_rows: tuple[tuple, ...]
    session_rows: tuple[tuple, ...]


def prepare_events(events: Iterable[Event], dialect: str) -> PreparedEvents:
    """Serialise validated events for ``dialect`` (``"sqlite"`` or ``"postgresql"``): JSON as text, SQLite times
    as :data:`SQLITE_TS` strings, the attribute columns and ``form_step`` extracted."""
    events = tuple(events)
    stamp = _stamp_for(dialect)
    created = stamp(datetime.now(UTC).replace(tzinfo=None))
    keys, rows, assessments, sess = [], [], [], []
    received_at, received = None, created
    for e in events:
        ts = stamp(e.timestamp)
        keys.append((e.event_id, ts))
        if e.received_at is not received_at:  # one request's events share one receive time: format it once
            received_at = e.received_at
            received = stamp(received_at) if received_at else created
        rows.append(_event_tuple(e, ts, received, created))
        sess.append((e.session_id, e.user_id, ts))
        if e.event_type == "assessment_submitted":
            assessments.append(_assessment_tuple(e, ts))
    return PreparedEvents(dialect, tuple(keys), tuple(rows), tuple(assessments), tuple(sess))


def _new_keys(conn: Connection, key_rows: Sequence[tuple]) -> set[str]:
    """Insert ``(event_id, timestamp)`` rows into the ledger (insert-or-ignore); return the ids that were new."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur:
            cur.execute(
                "INSERT INTO event_keys (event_id, event_timestamp) "
                "SELECT * FROM unnest(%s::varchar[], %s::timestamp[]) ON CONFLICT DO NOTHING RETURNING event_id",
                ([k for k, _ in key_rows], [t for _, t in key_rows]),
            )
            return {r[0] for r in cur.fetchall()}
    # SQLite: the caller's transaction holds (or takes, at the insert) the database's only write lock, so "not in
    # the ledger before the insert" is exactly "found by this SELECT"; a SELECT returning the few repeats steps far
    # fewer times than RETURNING every new id (each step releases and retakes Python's GIL).
    ids = list(dict.fromkeys(map(itemgetter(0), key_rows)))
    seen: set[str] = set()
    for lo in range(0, len(ids), _SQLITE_MAX_PARAMS):
        chunk = ids[lo : lo + _SQLITE_MAX_PARAMS]
        found = raw.execute(_known_keys_sql(len(chunk)), chunk).fetchall()
        seen.update(r[0] for r in found)
    _sqlite_values(raw, "INSERT INTO event_keys (event_id, event_timestamp) VALUES {values} ON CONFLICT DO NOTHING",
                   2, key_rows)  # fmt: skip
    return set(ids) - seen


@lru_cache(maxsize=256)
def _known_keys_sql(n: int) -> str:
    return f"SELECT event_id FROM event_keys WHERE event_id IN ({','.join('?' * n)})"


# The identity rule of analytics.identity, in plain SQL for the driver: the smallest user id wins (NULL loses),
# first_seen/last_seen widen. Valid on SQLite (>= 3.24) and PostgreSQL alike.
_SESSIONS_UPSERT = (
    "INSERT INTO sessions (session_id, user_id, first_seen, last_seen) {values} "
    "ON CONFLICT (session_id) DO UPDATE SET "
    "user_id = CASE WHEN sessions.user_id IS NULL THEN excluded.user_id WHEN excluded.user_id IS NULL "
    "THEN sessions.user_id WHEN excluded.user_id < sessions.user_id THEN excluded.user_id "
    "ELSE sessions.user_id END, "
    "first_seen = CASE WHEN excluded.first_seen < sessions.first_seen THEN excluded.first_seen "
    "ELSE sessions.first_seen END, "
    "last_seen = CASE WHEN excluded.last_seen > sessions.last_seen THEN excluded.last_seen "
    "ELSE sessions.last_seen END"
)


def _upsert_session_rows(conn: Connection, observations: Iterable[tuple]) -> None:
    """Fold ``(session_id, user_id, time)`` observations per session and upsert them (times in row format)."""
    agg: dict[str, list] = {}
    for sid, uid, ts in observations:
        cur = agg.get(sid)
        if cur is None:
            agg[sid] = [sid, uid, ts, ts]
            continue
        if uid is not None and (cur[1] is None or uid < cur[1]):
            cur[1] = uid
        if ts < cur[2]:
            cur[2] = ts
        if ts > cur[3]:
            cur[3] = ts
    if not agg:
        return
    rows = [agg[k] for k in sorted(agg)]  # one lock order for concurrent PostgreSQL writers
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur:
            cur.execute(
                _SESSIONS_UPSERT.format(
                    values="SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::timestamp[], %s::timestamp[])"
                ),
                tuple(list(col) for col in zip(*rows, strict=True)),
            )
        return
    _sqlite_values(raw, _SESSIONS_UPSERT.format(values="VALUES {values}"), 4, rows)


def write_prepared(conn: Connection, batches: Sequence[PreparedEvents]) -> set[str]:
    """Store prepared batches inside the caller's transaction; return the ``event_id``s newly stored.

    One ledger insert-or-ignore for all batches decides which ids are new; only the first row of each new id is
    inserted into ``analytics_events`` (and ``assessments``), and the sessions table is updated from those rows.
    """
    key_rows = [k for b in batches for k in b.key_rows]
    if not key_rows:
        return set()
    if conn.dialect.name == "postgresql" and len(key_rows) <= PG_ONE_STATEMENT_MAX:
        return _write_prepared_pg(conn, batches)
    with driver_errors(conn):
        new = _new_keys(conn, key_rows)
        if not new:
            return new
        if len(new) == len(key_rows):  # the common case: every id distinct and new, every row goes in
            rows = [row for b in batches for row in b.event_rows]
            observations = [obs for b in batches for obs in b.session_rows]
        else:
            taken: set[str] = set()
            rows, observations = [], []
            for b in batches:
                for row, obs in zip(b.event_rows, b.session_rows, strict=True):
                    if row[0] in new and row[0] not in taken:
                        taken.add(row[0])
                        rows.append(row)
                        observations.append(obs)
        bulk_insert(conn, "analytics_events", EVENT_COLUMNS, rows)
        assessments = {r[0]: r for b in batches for r in b.assessment_rows if r[0] in new}
        bulk_insert(conn, "assessments", ASSESSMENT_COLUMNS, list(assessments.values()))
        _upsert_session_rows(conn, observations)
    return new


_PG_TYPES = ("varchar", "varchar", "varchar", "varchar", "timestamp", "timestamp", "text", *("varchar",) * 6,
             "timestamp", "int")  # fmt: skip
_PG_NAMES = ("event_id", "event_type", "user_id", "session_id", "ts", "received_at", "event_data", *ATTRIBUTE_KEYS,
             "created_at", "form_step")  # fmt: skip
#: Groups of at most this many events are written on PostgreSQL in one statement (round trips dominate a small
#: group); larger ones by ledger insert + COPY + sessions upsert (per-row cost dominates: measured 8,400 vs 5,600
#: events/s for 100-event batches through the sidecar).
PG_ONE_STATEMENT_MAX = 64
# One round trip for a whole group on PostgreSQL: the ledger insert decides which ids are new (RETURNING), the first
# row of each new id goes into analytics_events, and the sessions upsert folds those rows per session -- the same
# rules as the SQLite path, as data-modifying CTEs of one statement.
_PG_GROUP_WRITE = (
    "WITH input AS (SELECT * FROM unnest(" + ", ".join(f"%s::{t}[]" for t in _PG_TYPES) + ") WITH ORDINALITY "
    "AS r(" + ", ".join(_PG_NAMES) + ", ord)), "
    "k AS (INSERT INTO event_keys (event_id, event_timestamp) SELECT event_id, ts FROM input ORDER BY ord "
    "ON CONFLICT DO NOTHING RETURNING event_id), "
    "first AS (SELECT DISTINCT ON (i.event_id) i.* FROM input i JOIN k ON k.event_id = i.event_id "
    "ORDER BY i.event_id, i.ord), "
    "ev AS (INSERT INTO analytics_events (" + ", ".join(f'"{c}"' for c in EVENT_COLUMNS) + ") "
    "SELECT event_id, event_type, user_id, session_id, ts, received_at, event_data::jsonb, "
    + ", ".join(ATTRIBUTE_KEYS) + ", created_at, form_step FROM first), "
    "se AS ("
    + _SESSIONS_UPSERT.format(
        values="SELECT session_id, min(user_id), min(ts), max(ts) FROM first GROUP BY session_id ORDER BY session_id"
    )
    + ") SELECT event_id FROM k"
)


def _write_prepared_pg(conn: Connection, batches: Sequence[PreparedEvents]) -> set[str]:
    rows = [row for b in batches for row in b.event_rows]
    raw = conn.connection.driver_connection
    with driver_errors(conn), raw.cursor() as cur:
        cur.execute(_PG_GROUP_WRITE, [list(col) for col in zip(*rows, strict=True)])
        new = {r[0] for r in cur.fetchall()}
        assessments = {r[0]: r for b in batches for r in b.assessment_rows if r[0] in new}
        bulk_insert(conn, "assessments", ASSESSMENT_COLUMNS, list(assessments.values()))
    return new


#: Columns of a first-exposure row of ``ab_assignments``, in the order :func:`write_exposures` takes them.
EXPOSURE_COLUMNS = ("test_id", "unit_id", "variant", "phase", "hash_value", "first_exposure_at")


def write_exposures(conn: Connection, rows: Sequence[tuple]) -> None:
    """Insert first exposures (tuples in :data:`EXPOSURE_COLUMNS` order, ``first_exposure_at`` a naive UTC
    datetime) inside the caller's transaction, ignoring units already recorded for their test.

    Of several rows for one ``(test_id, unit_id)`` the first wins, as it would had they been inserted one by one.
    One driver statement for all rows (SQLite: multi-row ``VALUES`` chunks; PostgreSQL: ``unnest`` arrays), not a
    step per row: this runs in the sidecar's writer, between event groups.
    """
    first: dict[tuple[str, str], tuple] = {}
    for row in rows:
        first.setdefault((row[0], row[1]), row)
    if not first:
        return
    cols = ", ".join(EXPOSURE_COLUMNS)
    raw = conn.connection.driver_connection
    with driver_errors(conn):
        if conn.dialect.name == "postgresql":
            with raw.cursor() as cur:
                cur.execute(
                    f"INSERT INTO ab_assignments ({cols}) SELECT * FROM unnest(%s::varchar[], %s::varchar[], "
                    "%s::varchar[], %s::int[], %s::float8[], %s::timestamp[]) ON CONFLICT DO NOTHING",
                    [list(col) for col in zip(*first.values(), strict=True)],
                )
            return
        values = [(*r[:5], _sqlite_stamp(r[5])) for r in first.values()]
        _sqlite_values(raw, f"INSERT INTO ab_assignments ({cols}) VALUES {{values}} ON CONFLICT DO NOTHING", 6, values)


def _event_tuple(e: Event, ts: Any, received: Any, created: Any) -> tuple:
    d = e.event_data
    attrs = [v if type(v := d.get(k)) is str or isinstance(v, str) else None for k in ATTRIBUTE_KEYS]
    return (e.event_id, e.event_type, e.user_id, e.session_id, ts, received, json_text(d), *attrs, created,
            form_step(d))


def json_text(value: Any) -> str:
    """``value`` as JSON text for a JSON column (compact, UTF-8; ``orjson``, ten times the json module's speed
    here); an integer beyond 64 bits, which orjson refuses, is written exactly by the json module."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def form_step(data: dict) -> int | None:
    """The typed ``form_step`` column: ``data["step"]`` when it is an integer (not a boolean), else None."""
    v = data.get("step")
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _assessment_tuple(e: Event, ts: Any) -> tuple:
    d = e.event_data
    return (e.event_id, e.user_id, e.session_id, ts, *(d.get(k) for k in _ASSESSMENT_KEYS),
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
    if not events:
        return WriteResult(0, 0)
    new = write_prepared(target, [prepare_events(events, target.dialect.name)])
    return WriteResult(accepted=len(new), duplicates=len(events) - len(new))


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
