"""Cron evaluation across DST changes, reported periods, and the schedule file's validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from analytics.errors import ConfigError, InvalidParameterError, NotFoundError
from scheduled import DEFAULT_SCHEDULE, fire_times, load_schedule, next_fire_time, parse_duration, period_for

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_weekly_next_run_keeps_local_time_across_spring_forward():
    # Berlin switches to CEST on Sunday 2026-03-29: Monday 07:00 is 06:00 UTC before, 05:00 UTC after.
    first = next_fire_time("0 7 * * 1", "Europe/Berlin", datetime(2026, 3, 20, 12, tzinfo=UTC))
    second = next_fire_time("0 7 * * 1", "Europe/Berlin", first)
    assert first.astimezone(UTC) == datetime(2026, 3, 23, 6, 0, tzinfo=UTC)
    assert second.astimezone(UTC) == datetime(2026, 3, 30, 5, 0, tzinfo=UTC)
    assert (first.hour, second.hour) == (7, 7)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(days=6, hours=23)


def test_weekly_next_run_across_fall_back_in_new_york():
    # New York returns to EST on Sunday 2026-11-01: Monday 07:00 is 11:00 UTC before, 12:00 UTC after.
    first = next_fire_time("0 7 * * 1", "America/New_York", datetime(2026, 10, 20, tzinfo=UTC))
    second = next_fire_time("0 7 * * 1", "America/New_York", first)
    assert first.astimezone(UTC) == datetime(2026, 10, 26, 11, 0, tzinfo=UTC)
    assert second.astimezone(UTC) == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert (first.hour, second.hour) == (7, 7)


def test_time_skipped_by_spring_forward_fires_once_right_after_the_jump():
    times = list(
        islice(fire_times("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=BERLIN)), 2)
    )
    assert [t.astimezone(UTC) for t in times] == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST, the first instant after 02:00 CET
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]


def test_repeated_time_of_fall_back_fires_once_for_a_fixed_hour_job():
    times = list(
        islice(fire_times("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=BERLIN)), 2)
    )
    assert [t.astimezone(UTC) for t in times] == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST, first pass
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # next day 02:30 CET; the 01:30 UTC repeat is skipped
    ]
    # Asking again from the first pass must not fire the repeated wall time either.
    assert next_fire_time("30 2 * * *", "Europe/Berlin", times[0]).astimezone(UTC) == times[1].astimezone(UTC)


def test_hourly_job_fires_every_real_hour_through_fall_back():
    times = list(
        islice(fire_times("0 * * * *", "Europe/Berlin", datetime(2026, 10, 25, 0, 30, tzinfo=BERLIN)), 4)
    )
    assert [t.astimezone(UTC) for t in times] == [
        datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
    ]


def test_previous_week_period_containing_spring_forward():
    period = period_for("previous_week", date(2026, 3, 30), "Europe/Berlin")
    assert (period.start, period.end, period.label) == (date(2026, 3, 23), date(2026, 3, 29), "2026-W13")
    lo, hi = period.utc_bounds()
    assert lo == datetime(2026, 3, 22, 23, 0, tzinfo=UTC)
    assert hi == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert hi - lo == timedelta(hours=167)


def test_previous_week_period_containing_fall_back():
    period = period_for("previous_week", date(2026, 10, 26), "Europe/Berlin")
    lo, hi = period.utc_bounds()
    assert (period.start, period.end) == (date(2026, 10, 19), date(2026, 10, 25))
    assert hi - lo == timedelta(hours=169)
    assert period.parameters() == {
        "start_date": "2026-10-19",
        "end_date": "2026-10-26",  # exclusive, as analytics.period.resolve_period reads it
        "as_of": "2026-10-26",
        "period_label": "2026-W43",
        "start_ts": "2026-10-18T22:00:00+00:00",
        "end_ts": "2026-10-25T23:00:00+00:00",
        "timezone": "Europe/Berlin",
    }


@pytest.mark.parametrize(
    ("run_date", "start", "end"),
    [
        (date(2026, 3, 30), date(2026, 3, 23), date(2026, 3, 29)),  # Monday: the week just ended
        (date(2026, 4, 5), date(2026, 3, 23), date(2026, 3, 29)),  # Sunday: still the week before
        (date(2026, 1, 1), date(2025, 12, 22), date(2025, 12, 28)),  # across the year end
    ],
)
def test_previous_week_from_any_day(run_date, start, end):
    period = period_for("previous_week", run_date)
    assert (period.start, period.end) == (start, end)


def test_previous_day_and_month():
    assert period_for("previous_day", date(2026, 3, 1)).start == date(2026, 2, 28)
    month = period_for("previous_month", date(2024, 3, 15))
    assert (month.start, month.end, month.label) == (date(2024, 2, 1), date(2024, 2, 29), "2024-02")


def test_period_for_rejects_unknown_kind():
    with pytest.raises(InvalidParameterError) as err:
        period_for("fortnight", date(2026, 1, 1))
    assert str(err.value) == (
        "'kind' must be one of previous_day, previous_week, previous_month (got 'fortnight')"
    )


def test_fire_times_rejects_naive_datetime():
    with pytest.raises(InvalidParameterError) as err:
        next_fire_time("0 7 * * 1", "UTC", datetime(2026, 1, 1))
    assert str(err.value) == "'after' must be timezone-aware (got naive 2026-01-01T00:00:00)"


@pytest.mark.parametrize(("raw", "seconds"), [(90, 90.0), ("90s", 90.0), ("20m", 1200.0), ("1.5h", 5400.0)])
def test_parse_duration(raw, seconds):
    assert parse_duration(raw) == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(InvalidParameterError) as err:
        parse_duration("soon")
    assert (
        str(err.value)
        == "'timeout' must be a positive duration such as 90, '90s', '20m' or '1h' (got 'soon')"
    )


def test_shipped_schedule_names_the_weekly_report_notebooks():
    schedule = load_schedule(DEFAULT_SCHEDULE)
    weekly = schedule.job("weekly")
    assert (weekly.cron, weekly.timezone, weekly.period) == ("0 7 * * 1", "Europe/Berlin", "previous_week")
    notebooks_dir = Path(DEFAULT_SCHEDULE).resolve().parent.parent / "notebooks"
    assert [nb.path for nb in weekly.notebooks] == [
        notebooks_dir / f"{name}.ipynb"
        for name in (
            "weekly_report",
            "funnel",
            "conversions",
            "experiments",
            "cohorts",
            "ltv",
            "market_intelligence",
            "lead_sources",
            "performance",
        )
    ]
    assert weekly.timeout == 1200.0
    assert {nb.name: nb.parameters for nb in weekly.notebooks if nb.parameters} == {
        name: {"start_date": None} for name in ("weekly_report", "cohorts", "ltv", "lead_sources")
    }
    assert schedule.job("daily_performance").period == "previous_day"
    with pytest.raises(NotFoundError) as err:
        schedule.job("monthly")
    assert str(err.value) == "job 'monthly' does not exist"


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            {"cron": "0 7 * *", "notebooks": ["a.ipynb"]},
            "job 'j': 'cron' must be a five-field cron expression (got '0 7 * *')",
        ),
        (
            {"cron": "0 7 * * 1", "timezone": "Mars/Olympus", "notebooks": ["a.ipynb"]},
            "job 'j': 'timezone' must be an IANA zone name (got 'Mars/Olympus')",
        ),
        (
            {"cron": "0 7 * * 1", "notebooks": []},
            "job 'j': 'notebooks' must list at least one notebook (got none)",
        ),
        (
            {"cron": "0 7 * * 1", "period": "weekly", "notebooks": ["a.ipynb"]},
            "job 'j': 'period' must be one of previous_day, previous_week, previous_month (got 'weekly')",
        ),
        (
            {"cron": "0 7 * * 1", "recipients": ["nobody"], "notebooks": ["a.ipynb"]},
            "job 'j': 'recipients' must be e-mail addresses (got ['nobody'])",
        ),
        (
            {"cron": "0 7 * * 1", "timeout": "-5m", "notebooks": ["a.ipynb"]},
            "job 'j': 'timeout' must be a positive duration such as 90, '90s', '20m' or '1h' (got '-5m')",
        ),
    ],
)
def test_schedule_validation_messages(tmp_path, job, message):
    import yaml

    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump({"jobs": {"j": job}}))
    with pytest.raises(ConfigError) as err:
        load_schedule(path)
    assert str(err.value) == message
