"""Command line: ``python -m scheduled run JOB [--for-date D] [--force]``, ``serve``, ``history``, ``jobs``.

Exit codes of ``run``: 0 the report went out (or was already sent for the period), 1 a part failed or the
e-mail could not be sent (the report and the marked e-mail are still written), 2 usage or configuration
error, 75 the job is already running.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

from analytics.errors import AnalyticsError

from .history import RunHistory
from .jobs import Job, load_schedule
from .runner import DEFAULT_REPORTS_DIR, JobRunningError, run_job
from .serve import serve

EXIT_FAILED, EXIT_USAGE, EXIT_RUNNING = 1, 2, 75


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scheduled", description="Scheduled notebook reports.")
    p.add_argument(
        "--schedule", type=Path, default=None, help="schedule file (default: scheduled/schedule.yaml)"
    )
    p.add_argument(
        "--reports-dir", type=Path, default=DEFAULT_REPORTS_DIR, help="archive root (default: reports)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one job now")
    run.add_argument("job")
    run.add_argument(
        "--for-date",
        type=date.fromisoformat,
        default=None,
        help="run as if on this local date (YYYY-MM-DD); weekly jobs report the week before it",
    )
    run.add_argument("--force", action="store_true", help="e-mail again even if this period was already sent")
    run.add_argument("--database-url", default=None, help="inject this database_url into the notebooks")
    run.add_argument("--workers", type=int, default=None, help="notebooks at once (default: usable cores)")
    srv = sub.add_parser("serve", help="fire the jobs at their cron times until interrupted")
    srv.add_argument("--job", action="append", dest="jobs", help="only this job (repeatable)")
    hist = sub.add_parser("history", help="show past runs")
    hist.add_argument("--job", default=None)
    hist.add_argument("--limit", type=int, default=20)
    sub.add_parser("jobs", help="list the jobs and their next run")
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    schedule = load_schedule(args.schedule)
    job = schedule.job(args.job)
    try:
        record = run_job(
            job,
            sender=schedule.sender,
            run_date=args.for_date,
            force=args.force,
            reports_dir=args.reports_dir,
            database_url=args.database_url,
            workers=args.workers,
        )
    except JobRunningError as exc:
        print(exc, file=sys.stderr)
        return EXIT_RUNNING
    print(
        f"{record.job} {record.period}: {record.status} in {record.duration_s:.1f} s, "
        f"e-mail: {record.delivery}"
    )
    for nb in record.notebooks:
        print(f"  {nb['name']:<24} {nb['status']:<8} {nb['seconds']:6.1f} s  {nb['error'] or ''}")
    if record.email_file:
        print(f"  report: {Path(record.email_file).parent}")
    if record.error:
        print(f"  {record.error}", file=sys.stderr)
    return EXIT_FAILED if record.status == "failed" else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    schedule = load_schedule(args.schedule)

    def run(job: Job, fire: datetime) -> int:
        cmd = [sys.executable, "-m", "scheduled", "--reports-dir", str(args.reports_dir)]
        if args.schedule is not None:
            cmd += ["--schedule", str(args.schedule)]
        cmd += ["run", job.name, "--for-date", fire.date().isoformat()]
        logging.info("job %s: starting %s", job.name, " ".join(cmd))
        code = subprocess.call(cmd)
        logging.log(logging.ERROR if code else logging.INFO, "job %s: exit code %s", job.name, code)
        return code

    serve(schedule, run, jobs=args.jobs)
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    records = RunHistory(args.reports_dir).records(job=args.job)[-args.limit :]
    if not records:
        print("no runs recorded")
        return 0
    print(f"{'started (UTC)':<20} {'job':<20} {'period':<12} {'status':<8} {'secs':>7} {'e-mail':<8} files")
    for r in records:
        print(
            f"{r.started_at[:19]:<20} {r.job:<20} {r.period:<12} {r.status:<8} {r.duration_s:7.1f} "
            f"{r.delivery[:8]:<8} {len(r.files)}  {', '.join(r.recipients)}"
            + (f"\n    {r.error}" if r.error else "")
        )
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from .periods import next_fire_time, period_for

    schedule = load_schedule(args.schedule)
    for job in schedule.jobs.values():
        fire = next_fire_time(job.cron, job.timezone, datetime.now(job.tz))
        period = period_for(job.period, fire.date(), job.timezone)
        print(
            f"{job.name:<20} {job.cron:<14} {job.timezone:<16} next {fire.isoformat()} reports "
            f"{period.start}..{period.end}  ({len(job.notebooks)} notebooks)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("papermill", "matplotlib", "traitlets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = _parser().parse_args(argv)
    commands = {"run": _cmd_run, "serve": _cmd_serve, "history": _cmd_history, "jobs": _cmd_jobs}
    try:
        return commands[args.command](args)
    except AnalyticsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
