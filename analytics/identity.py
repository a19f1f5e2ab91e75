"""Identity resolution: which person an event belongs to.

Rule (used by every analysis): a session's events belong to the user id seen on any event of that session — the
lexicographically smallest one if a session carries several, so the answer never depends on row order — otherwise
the person is the session id itself. Anonymous events before a user identifies (lead capture, payment) are thereby
attributed to that user.

The ``sessions`` table holds each session's resolved user id; :func:`upsert_sessions` keeps it current inside
every write transaction, so resolution is a join with one row per session rather than a ``GROUP BY`` over every
event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Select, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from analytics.schema import sessions

__all__ = ["person_map", "resolve_persons", "upsert_sessions"]


def person_map() -> Select:
    """SQL selectable ``(session_id, person_id)``, one row per session, from the ``sessions`` table."""
    return select(
        sessions.c.session_id.label("session_id"),
        func.coalesce(sessions.c.user_id, sessions.c.session_id).label("person_id"),
    )


def resolve_persons(events: pd.DataFrame) -> pd.Series:
    """The person of each row of a DataFrame with ``session_id`` and ``user_id`` columns (same rule as SQL)."""
    sid = events["session_id"].astype("string")
    pairs = pd.DataFrame({"s": sid, "u": events["user_id"].astype("string")}).dropna()
    if pairs.empty:
        return sid.rename("person_id")
    known = pairs.groupby("s")["u"].min()
    return sid.map(known).fillna(sid).astype("string").rename("person_id")


def _least(a, b):
    """The smaller of two nullable values (NULL loses), portable across SQLite and PostgreSQL."""
    return case((a.is_(None), b), (b.is_(None), a), (b < a, b), else_=a)


def upsert_sessions(conn: Connection, rows: Iterable[tuple[str, str | None, datetime]]) -> None:
    """Record ``(session_id, user_id, timestamp)`` observations in ``sessions`` (inside the caller's transaction)."""
    agg: dict[str, list] = {}
    for session_id, user_id, ts in rows:
        cur = agg.get(session_id)
        if cur is None:
            agg[session_id] = [user_id, ts, ts]
            continue
        if user_id is not None and (cur[0] is None or user_id < cur[0]):
            cur[0] = user_id
        cur[1] = min(cur[1], ts)
        cur[2] = max(cur[2], ts)
    if not agg:
        return
    values = [{"session_id": s, "user_id": u, "first_seen": f, "last_seen": la} for s, (u, f, la) in sorted(agg.items())]
    stmt = _UPSERT.get(conn.dialect.name)
    if stmt is None:  # built once per dialect: building it costs ~0.5 ms, more than a small write
        stmt = _UPSERT[conn.dialect.name] = _upsert_statement(conn.dialect.name)
    for lo in range(0, len(values), 2000):
        conn.execute(stmt, values[lo : lo + 2000])


_UPSERT: dict[str, object] = {}


def _upsert_statement(dialect_name: str):
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(sessions)
    stmt = stmt.on_conflict_do_update(
        index_elements=[sessions.c.session_id],
        set_={
            "user_id": _least(sessions.c.user_id, stmt.excluded.user_id),
            "first_seen": case((stmt.excluded.first_seen < sessions.c.first_seen, stmt.excluded.first_seen),
                               else_=sessions.c.first_seen),
            "last_seen": case((stmt.excluded.last_seen > sessions.c.last_seen, stmt.excluded.last_seen),
                              else_=sessions.c.last_seen),
        },
    )
    return stmt
