"""Cron evaluation in a time zone and the reporting period of a run.

A job fires at wall-clock times of its zone (``croniter`` on tz-aware datetimes). Across daylight-saving
changes the rules are those of Vixie cron: a time skipped by the spring-forward jump fires at the first
instant after the jump (02:30 → 03:00), and a fixed-hour job whose time repeats in the autumn fires only once
(the first occurrence). Jobs with ``*`` in the hour field fire every real hour, including the repeated one.

The period reported by a run is a set of calendar dates in the job's zone, derived from the local date of the
run: ``previous_week`` is the last complete Monday–Sunday week before that date (ISO 8601 weeks),
``previous_day`` the day before, ``previous_month`` the previous calendar month.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from analytics.errors import InvalidParameterError

__all__ = ["Period", "fire_times", "next_fire_time", "period_for"]


@dataclass(frozen=True)
class Period:
    """A reporting period: calendar dates ``start``..``end`` (both included) in ``timezone``."""

    kind: str
    start: date
    end: date
    timezone: str

    @property
    def label(self) -> str:
        """Directory name and history key: ``2026-W13``, ``2026-03-29`` or ``2026-03``."""
        if self.kind == "previous_week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "previous_month":
            return f"{self.start:%Y-%m}"
        return self.start.isoformat()

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """Local midnight of ``start`` and of the day after ``end``, in UTC (end exclusive).

        A week containing the spring-forward change therefore spans 167 hours, the autumn one 169.
        """
        tz = ZoneInfo(self.timezone)
        lo = datetime.combine(self.start, time(), tzinfo=tz).astimezone(UTC)
        hi = datetime.combine(self.end + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
        return lo, hi

    def parameters(self) -> dict[str, str]:
        """The values offered to notebooks (each notebook receives those its parameters cell declares).

        ``end_date`` and ``as_of`` are **exclusive** — the day after the period's last day — as in
        :func:`analytics.period.resolve_period` (half-open ``[start, end)``): a weekly run passes the Monday
        after the reported week.
        """
        lo, hi = self.utc_bounds()
        after = (self.end + timedelta(days=1)).isoformat()
        return {
            "start_date": self.start.isoformat(),
            "end_date": after,
            "as_of": after,
            "period_label": self.label,
            "start_ts": lo.isoformat(),
            "end_ts": hi.isoformat(),
            "timezone": self.timezone,
        }


def period_for(kind: str, run_date: date, timezone: str = "UTC") -> Period:
    """The period a run on local date ``run_date`` reports.

    Parameters
    ----------
    kind:
        ``previous_day``, ``previous_week`` or ``previous_month``.
    run_date:
        Local calendar date of the run (the fire time's date in the job's zone).
    timezone:
        IANA zone of the job, carried into the period.
    """
    if kind == "previous_day":
        day = run_date - timedelta(days=1)
        return Period(kind, day, day, timezone)
    if kind == "previous_week":
        end = run_date - timedelta(days=run_date.weekday() + 1)
        return Period(kind, end - timedelta(days=6), end, timezone)
    if kind == "previous_month":
        end = run_date.replace(day=1) - timedelta(days=1)
        return Period(kind, end.replace(day=1), end, timezone)
    raise InvalidParameterError(
        "kind", f"'kind' must be one of previous_day, previous_week, previous_month (got {kind!r})"
    )


def _fixed_hour(cron: str) -> bool:
    return cron.split()[1] != "*" and "/" not in cron.split()[1]


def fire_times(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Successive fire times (tz-aware, in ``timezone``) strictly after ``after``.

    Raises
    ------
    InvalidParameterError
        When ``after`` is naive (the instant would be ambiguous).
    """
    if after.tzinfo is None:
        raise InvalidParameterError(
            "after", f"'after' must be timezone-aware (got naive {after.isoformat()})"
        )
    tz = ZoneInfo(timezone)
    it = croniter(cron, after.astimezone(tz))
    fixed = _fixed_hour(cron)
    while True:
        fire = it.get_next(datetime)
        repeated = fire.fold == 1 and fire.replace(fold=0).utcoffset() != fire.utcoffset()
        if fixed and repeated:
            continue  # second pass through the autumn's repeated hour: already fired at this wall time
        yield fire


def next_fire_time(cron: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (see :func:`fire_times`)."""
    return next(fire_times(cron, timezone, after))
