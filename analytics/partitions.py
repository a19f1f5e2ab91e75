"""Monthly range partitions of ``analytics_events`` on PostgreSQL.

The parent table is ``PARTITION BY RANGE (timestamp)`` with one partition per calendar month
(``analytics_events_yYYYYmMM``) and a default partition that catches anything outside them, so an insert never
fails for want of a partition. :func:`maintain` creates the partitions for a span of months and is idempotent;
when the default partition already holds rows of a month being created, they are moved into the new partition in
the same transaction. On SQLite every function here is a no-op.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, Engine, text

#: Key of the advisory lock one :func:`upkeep` at a time holds ("AICPAR"; migrations use another).
_UPKEEP_LOCK_KEY = 0x41_49_43_50_41_52

__all__ = ["maintain", "month_partitions", "partition_name", "upkeep"]


def _month_start(d: date | datetime) -> date:
    return date(d.year, d.month, 1)


def _add_months(d: date, n: int) -> date:
    m = d.year * 12 + (d.month - 1) + n
    return date(m // 12, m % 12 + 1, 1)


def partition_name(month: date) -> str:
    """``analytics_events_y2026m11`` for November 2026."""
    return f"analytics_events_y{month.year:04d}m{month.month:02d}"


def month_partitions(conn: Connection) -> list[str]:
    """Names of the existing monthly partitions (PostgreSQL), sorted."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'analytics_events'::regclass"
        )
    ).scalars()
    return sorted(r for r in rows if r != "analytics_events_default")


def _ensure_month(conn: Connection, month: date) -> bool:
    name = partition_name(month)
    exists = conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
    if exists:
        return False
    lo, hi = month.isoformat(), _add_months(month, 1).isoformat()
    # Move any rows the default partition caught for this month, then attach the new partition.
    conn.execute(text(f"CREATE TABLE {name} (LIKE analytics_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    conn.execute(
        text(
            f"WITH moved AS (DELETE FROM analytics_events_default WHERE timestamp >= :lo AND timestamp < :hi "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        {"lo": lo, "hi": hi},
    )
    conn.execute(text(f"ALTER TABLE analytics_events ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}')"))
    return True


def maintain(
    target: Engine | Connection,
    *,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    months_ahead: int = 3,
    months_back: int = 12,
) -> list[str]:
    """Create the monthly partitions covering ``start``..``end`` (default: ``months_back`` before the current
    month to ``months_ahead`` after it). Idempotent; returns the names created."""
    if isinstance(target, Engine):
        with target.begin() as conn:
            return maintain(conn, start=start, end=end, months_ahead=months_ahead, months_back=months_back)
    conn = target
    if conn.dialect.name != "postgresql":
        return []
    today = _month_start(datetime.utcnow())
    first = _month_start(start) if start else _add_months(today, -months_back)
    last = _month_start(end) if end else _add_months(today, months_ahead)
    created = []
    month = first
    while month <= last:
        if _ensure_month(conn, month):
            created.append(partition_name(month))
        month = _add_months(month, 1)
    return created


def upkeep(conn: Connection, *, months_ahead: int = 3, lock_timeout_ms: int = 1000) -> list[str] | None:
    """Create the partitions of the current month and the ``months_ahead`` after it, without holding up writes.

    Meant for a long-running writer (the ingest sidecar calls it on its connection every few hours): the
    migration creates partitions up to three months ahead, and without upkeep every later event would land in the
    default partition, whose rows a late :func:`maintain` then has to move while it locks that partition.

    Runs in a transaction of its own on ``conn`` (not in a transaction). Waits at most ``lock_timeout_ms`` for a
    table lock (an ``ATTACH PARTITION`` queued behind a long report would otherwise queue the writer's inserts
    behind it) and raises the database's error when that runs out. Returns the names created, or None when another
    process holds the upkeep's advisory lock (it is doing the same work) or on SQLite.
    """
    if conn.dialect.name != "postgresql":
        return None
    with conn.begin():
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        if not conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({_UPKEEP_LOCK_KEY})").scalar():
            return None
        return maintain(conn, months_back=0, months_ahead=months_ahead)
