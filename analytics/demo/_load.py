"""Loading generated demo data into a database, idempotently."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, delete, func, select, text

from analytics.db import get_engine, upgrade
from analytics.demo._simulate import DemoData, generate
from analytics.events import ATTRIBUTE_KEYS
from analytics.partitions import maintain
from analytics.schema import ab_assignments, ab_tests, analytics_events, assessments, event_keys, sessions
from analytics.storage import SQLITE_TS, bulk_insert, form_step

__all__ = ["LoadResult", "analyze", "insert_demo", "load_demo"]

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
    conn.execute(delete(sessions).where(~sessions.c.session_id.in_(select(analytics_events.c.session_id))))
    demo_tests = select(ab_tests.c.test_id).where(ab_tests.c.test_id.like(f"{DEMO_PREFIX}%"))
    conn.execute(delete(ab_assignments).where(ab_assignments.c.test_id.in_(demo_tests)))
    conn.execute(delete(ab_tests).where(ab_tests.c.test_id.like(f"{DEMO_PREFIX}%")))


_EVENT_COLS = ("event_id", "event_type", "user_id", "session_id", "timestamp", "received_at", "event_data",
               *ATTRIBUTE_KEYS, "created_at", "form_step")
_ASSESSMENT_COLS = ("event_id", "user_id", "session_id", "created_at", *_ASSESSMENT_KEYS)


def insert_demo(conn, data: DemoData) -> int:
    """Insert generated data inside the caller's transaction (ids must be new: plain inserts, no dedup).

    Uses the driver directly (COPY / executemany of pre-serialised rows): about ten times faster than
    SQLAlchemy's per-row parameter processing, which matters at the benchmarks' millions of events. Times are
    written in SQLAlchemy's own SQLite format so that Core queries compare them correctly.
    """
    ev = data.events
    maintain(conn, start=data.start, end=data.end)
    now = datetime.now(UTC).replace(tzinfo=None).strftime(SQLITE_TS)
    ts = pd.Series(ev["timestamp"]).dt.strftime(SQLITE_TS).tolist()
    ids, types, users, session_ids, datas = (ev[c].tolist() for c in
                                          ("event_id", "event_type", "user_id", "session_id", "event_data"))
    for lo in range(0, len(ids), _CHUNK):
        hi = min(lo + _CHUNK, len(ids))
        bulk_insert(conn, "event_keys", ("event_id", "event_timestamp"), [(ids[i], ts[i]) for i in range(lo, hi)])
        rows, arows = [], []
        for i in range(lo, hi):
            d = datas[i]
            user = users[i] if isinstance(users[i], str) else None
            rows.append((ids[i], types[i], user, session_ids[i], ts[i], ts[i], json.dumps(d),
                         *(d.get(k) for k in ATTRIBUTE_KEYS), now, form_step(d)))
            if types[i] == "assessment_submitted":
                arows.append((ids[i], user, session_ids[i], ts[i], *(d.get(k) for k in _ASSESSMENT_KEYS)))
        bulk_insert(conn, "analytics_events", _EVENT_COLS, rows)
        bulk_insert(conn, "assessments", _ASSESSMENT_COLS, arows)
    users = pd.Series([u if isinstance(u, str) else None for u in users], dtype=object)
    per_session = pd.DataFrame({"session_id": session_ids, "user_id": users, "ts": ts}).groupby("session_id").agg(
        user_id=("user_id", "min"), first_seen=("ts", "min"), last_seen=("ts", "max"))
    bulk_insert(conn, "sessions", ("session_id", "user_id", "first_seen", "last_seen"),
          [(s, u if isinstance(u, str) else None, f, la) for s, u, f, la in per_session.itertuples()])
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
    analyze(engine)
    return LoadResult(True, n, data.start, data.end)


def analyze(engine: Engine) -> None:
    """Refresh the planner's statistics after a bulk load (a never-analysed table can triple query times)."""
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
