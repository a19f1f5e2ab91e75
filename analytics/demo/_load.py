"""Loading generated demo data into a database, idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, func, select

from analytics.db import get_engine, upgrade
from analytics.demo._simulate import DemoData, generate
from analytics.events import ATTRIBUTE_KEYS
from analytics.partitions import maintain
from analytics.schema import ab_assignments, ab_tests, analytics_events, assessments, event_keys

__all__ = ["LoadResult", "load_demo"]

DEMO_PREFIX = "demo"
_ASSESSMENT_KEYS = ("job_title", "industry", "risk_level", "risk_score", "completion_time", "age_range",
                    "experience_level", "company_size", "education", "country", "region")
_CHUNK = 20_000


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_demo` did: ``loaded`` False when the demo data was already there."""

    loaded: bool
    events: int
    start: datetime | None = None
    end: datetime | None = None


def _demo_count(conn) -> int:
    return conn.execute(
        select(func.count()).select_from(event_keys).where(event_keys.c.event_id.like(f"{DEMO_PREFIX}%"))
    ).scalar_one()


def _delete_demo(conn) -> None:
    like = f"{DEMO_PREFIX}%"
    conn.execute(delete(analytics_events).where(analytics_events.c.event_id.like(like)))
    conn.execute(delete(assessments).where(assessments.c.event_id.like(like)))
    conn.execute(delete(event_keys).where(event_keys.c.event_id.like(like)))
    demo_tests = select(ab_tests.c.test_id).where(ab_tests.c.test_id.like(f"{DEMO_PREFIX}%"))
    conn.execute(delete(ab_assignments).where(ab_assignments.c.test_id.in_(demo_tests)))
    conn.execute(delete(ab_tests).where(ab_tests.c.test_id.like(f"{DEMO_PREFIX}%")))


def insert_demo(conn, data: DemoData) -> int:
    """Insert generated data inside the caller's transaction (ids must be new: plain inserts, no dedup)."""
    ev = data.events
    maintain(conn, start=data.start, end=data.end)
    now = datetime.now(UTC).replace(tzinfo=None)
    ts = ev["timestamp"].dt.to_pydatetime() if hasattr(ev["timestamp"], "dt") else list(ev["timestamp"])
    ids, types, users, sessions, datas = (ev[c].tolist() for c in
                                          ("event_id", "event_type", "user_id", "session_id", "event_data"))
    for lo in range(0, len(ids), _CHUNK):
        hi = min(lo + _CHUNK, len(ids))
        conn.execute(event_keys.insert(), [{"event_id": ids[i], "event_timestamp": ts[i]} for i in range(lo, hi)])
        rows = []
        arows = []
        for i in range(lo, hi):
            d = datas[i]
            row = {"event_id": ids[i], "event_type": types[i], "user_id": users[i], "session_id": sessions[i],
                   "timestamp": ts[i], "received_at": ts[i], "event_data": d, "created_at": now}
            for k in ATTRIBUTE_KEYS:
                row[k] = d.get(k)
            rows.append(row)
            if types[i] == "assessment_submitted":
                a = {k: d.get(k) for k in _ASSESSMENT_KEYS}
                a.update(event_id=ids[i], user_id=users[i], session_id=sessions[i], created_at=ts[i])
                arows.append(a)
        conn.execute(analytics_events.insert(), rows)
        if arows:
            conn.execute(assessments.insert(), arows)
    if data.ab_tests:
        conn.execute(ab_tests.insert(), data.ab_tests)
    if data.ab_assignments:
        conn.execute(ab_assignments.insert(), data.ab_assignments)
    return len(ids)


def load_demo(
    engine: Engine | str | None = None,
    *,
    days: int = 90,
    sessions: int = 50_000,
    seed: int = 7,
    end: datetime | None = None,
    replace: bool = False,
) -> LoadResult:
    """Create the schema if needed and load the demo data set, unless it is already loaded.

    Demo events have ids ``demo<seed>-<n>``; a second call finds them and does nothing (``loaded=False``), so
    ``make demo`` can run any number of times without duplicating data. ``replace=True`` deletes the demo rows
    (events, keys, assessments, demo A/B tests) and loads afresh, in one transaction.
    """
    engine = engine if isinstance(engine, Engine) else get_engine(engine)
    upgrade(engine)
    with engine.connect() as conn:
        existing = _demo_count(conn)
    if existing and not replace:
        return LoadResult(False, existing)
    data = generate(days=days, sessions=sessions, seed=seed, end=end)
    with engine.begin() as conn:
        if existing:
            _delete_demo(conn)
        n = insert_demo(conn, data)
    return LoadResult(True, n, data.start, data.end)
