"""Scheduled reports: papermill runs the notebooks on cron schedules into archived, e-mailed HTML reports.

Imports :mod:`analytics` only (never ``ingest_service``). See ``docs/reports.md``.
"""

from .execution import NotebookResult, NotebookTask, execute_notebooks
from .history import RunHistory, RunRecord
from .jobs import DEFAULT_SCHEDULE, Job, NotebookSpec, Schedule, load_schedule, parse_duration
from .message import MAX_EMAIL_BYTES, compose_email, smtp_settings
from .periods import Period, fire_times, next_fire_time, period_for
from .runner import JobRunningError, run_job

__all__ = [
    "DEFAULT_SCHEDULE",
    "MAX_EMAIL_BYTES",
    "Job",
    "JobRunningError",
    "NotebookResult",
    "NotebookSpec",
    "NotebookTask",
    "Period",
    "RunHistory",
    "RunRecord",
    "Schedule",
    "compose_email",
    "execute_notebooks",
    "fire_times",
    "load_schedule",
    "next_fire_time",
    "parse_duration",
    "period_for",
    "run_job",
    "smtp_settings",
]
