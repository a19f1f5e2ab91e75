"""The scheduler loop (fake clock), the job lock, and the CLI's history on an empty archive."""

from __future__ import annotations

import fcntl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduled import JobRunningError, load_schedule, run_job
from scheduled.__main__ import main
from scheduled.serve import serve

FIXTURES = Path(__file__).parent / "fixtures" / "scheduled"


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def test_serve_fires_at_local_cron_times_across_dst_and_survives_a_crash():
    schedule = load_schedule(FIXTURES / "schedule.yaml")
    clock = _Clock(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    stop = threading.Event()
    fired: list[datetime] = []

    def run(job, fire):
        fired.append(fire.astimezone(UTC))
        if len(fired) == 1:
            raise RuntimeError("first run crashes")
        if len(fired) == 3:
            stop.set()

    serve(schedule, run, jobs=["weekly"], stop=stop, now=clock.now, sleep=clock.sleep)
    assert fired == [
        datetime(2026, 3, 23, 6, 0, tzinfo=UTC),  # Monday 07:00 CET
        datetime(2026, 3, 30, 5, 0, tzinfo=UTC),  # Monday 07:00 CEST, after the change
        datetime(2026, 4, 6, 5, 0, tzinfo=UTC),
    ]


def test_second_run_of_a_job_is_refused_while_the_first_holds_the_lock(tmp_path):
    schedule = load_schedule(FIXTURES / "schedule.yaml")
    (tmp_path / "weekly").mkdir()
    with open(tmp_path / "weekly" / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(JobRunningError) as err:
            run_job(schedule.job("weekly"), sender=schedule.sender, reports_dir=tmp_path, env={})
    assert str(err.value) == "job 'weekly' is already running (lock held); not starting a second run"
    assert not (tmp_path / "history.jsonl").exists()


def test_cli_reports_unknown_job_and_empty_history(tmp_path, capsys):
    assert (
        main(["--schedule", str(FIXTURES / "schedule.yaml"), "--reports-dir", str(tmp_path), "run", "nope"])
        == 2
    )
    assert capsys.readouterr().err == "error: job 'nope' does not exist\n"
    assert main(["--reports-dir", str(tmp_path), "history"]) == 0
    assert capsys.readouterr().out == "no runs recorded\n"


def test_scheduled_never_imports_ingest_service():
    import subprocess
    import sys

    code = (
        "import sys, scheduled, scheduled.__main__, scheduled.alerting, scheduled.serve\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ingest_service'))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
