"""``python -m scheduled serve``: a long-running scheduler firing every job at its cron times.

One thread per job sleeps until the job's next fire time (:func:`scheduled.periods.next_fire_time`), then runs
it with the local date of that fire time. A job's runs never overlap: its thread runs one at a time, and the
job's file lock (:class:`scheduled.runner.JobRunningError`) also keeps out a manual run started meanwhile. A
failing or crashing run is logged and the thread goes on to the next fire time. Fire times missed while the
process was down are not caught up (run them by hand with ``--for-date``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from .jobs import Job, Schedule
from .periods import next_fire_time

__all__ = ["serve"]

log = logging.getLogger(__name__)


def _job_loop(
    job: Job,
    run: Callable[[Job, datetime], object],
    stop: threading.Event,
    now: Callable[[], datetime],
    sleep: Callable[[float], object],
) -> None:
    after = now()
    while not stop.is_set():
        fire = next_fire_time(job.cron, job.timezone, after)
        log.info("job %s: next run at %s", job.name, fire.isoformat())
        while not stop.is_set():
            remaining = (fire - now()).total_seconds()
            if remaining <= 0:
                break
            sleep(min(remaining, 60.0))  # re-check the clock at least every minute (suspend, NTP steps)
        if stop.is_set():
            return
        try:
            run(job, fire)
        except Exception:  # noqa: BLE001 - one failed run must not stop the scheduler
            log.exception("job %s: run fired at %s crashed", job.name, fire.isoformat())
        after = max(fire, now())


def serve(
    schedule: Schedule,
    run: Callable[[Job, datetime], object],
    *,
    jobs: list[str] | None = None,
    stop: threading.Event | None = None,
    now: Callable[[], datetime] | None = None,
    sleep: Callable[[float], object] | None = None,
) -> None:
    """Block, firing ``run(job, fire_time)`` for each selected job, until ``stop`` is set.

    Parameters
    ----------
    schedule:
        The loaded schedule.
    run:
        Called in the job's thread at each fire time (tz-aware, job's zone).
    jobs:
        Names of the jobs to serve (default: all).
    stop:
        Set it to make every thread return after its current run.
    now:
        Clock (default: ``datetime.now(UTC)``); injectable for tests.
    sleep:
        Waits that many seconds or until ``stop`` is set (default: ``stop.wait``); injectable for tests.
    """
    stop = stop or threading.Event()
    clock = now or (lambda: datetime.now(UTC))
    selected = [schedule.job(name) for name in jobs] if jobs else list(schedule.jobs.values())
    threads = [
        threading.Thread(
            target=_job_loop,
            args=(job, run, stop, clock, sleep or stop.wait),
            name=f"job-{job.name}",
            daemon=True,
        )
        for job in selected
    ]
    for thread in threads:
        thread.start()
    try:
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=1.0)
    except KeyboardInterrupt:
        stop.set()
        for thread in threads:
            thread.join()
