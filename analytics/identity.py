"""Identity resolution: which person an event belongs to.

Rule (used by every analysis): a session's events belong to the user id seen on any event of that session — the
lexicographically smallest one if a session carries several, so the answer never depends on row order — otherwise
the person is the session id itself. Anonymous events before a user identifies (lead capture, payment) are thereby
attributed to that user.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Select, func, select

from analytics.schema import analytics_events

__all__ = ["person_map", "resolve_persons"]


def person_map() -> Select:
    """SQL selectable ``(session_id, person_id)``, one row per session, computed in the database."""
    ev = analytics_events
    return select(
        ev.c.session_id.label("session_id"),
        func.coalesce(func.min(ev.c.user_id), ev.c.session_id).label("person_id"),
    ).group_by(ev.c.session_id)


def resolve_persons(events: pd.DataFrame) -> pd.Series:
    """The person of each row of a DataFrame with ``session_id`` and ``user_id`` columns (same rule as SQL)."""
    known = events.dropna(subset=["user_id"]).groupby("session_id")["user_id"].min()
    person = events["session_id"].map(known)
    return person.fillna(events["session_id"]).astype("string").rename("person_id")
