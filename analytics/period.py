"""Reporting periods: parse notebook/API date parameters, default them from the data, bucket times by day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, Engine, cast, func, select
from sqlalchemy.sql import ColumnElement

from analytics.schema import analytics_events
from analytics.storage import check_period, to_naive_utc

__all__ = ["Period", "day_bucket", "resolve_period"]


@dataclass(frozen=True)
class Period:
    """A half-open period ``[start, end)`` in naive UTC."""

    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start) / timedelta(days=1)

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - (self.end - self.start), self.start)


def resolve_period(engine: Engine, start_date: Any = None, end_date: Any = None, *, default_days: int = 30) -> Period:
    """Turn optional ``start_date``/``end_date`` parameters into a :class:`Period`.

    ``end_date`` defaults to the midnight after the newest stored event (or today's midnight when there are none),
    ``start_date`` to ``default_days`` before ``end_date``. Raises ``InvalidParameterError`` when ``end_date`` is
    before ``start_date``.
    """
    if end_date is None:
        with engine.connect() as conn:
            newest = conn.execute(select(func.max(analytics_events.c.timestamp))).scalar()
        newest = to_naive_utc(newest) if newest is not None else datetime.utcnow()
        end = (newest + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        end = to_naive_utc(end_date, "end_date")
    start = to_naive_utc(start_date, "start_date") if start_date is not None else end - timedelta(days=default_days)
    start, end = check_period(start, end)
    return Period(start, end)


def day_bucket(column: ColumnElement, dialect: str) -> ColumnElement:
    """The UTC calendar day of a timestamp column, as a SQL expression for ``dialect``."""
    if dialect == "sqlite":
        return func.date(column)
    return cast(column, Date)
