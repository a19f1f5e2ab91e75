"""Benchmark: the weekly report job end to end (papermill, nbconvert, combined report, e-mail as .eml).

Targets (issue 9): the full weekly job on the demo data set (90 days, 50,000 sessions) in under 90 s on the
2-core machine, and on one million events in under 3 minutes. Each case loads the demo generator's data into
a fresh SQLite file under ``bench-results/reports/`` (loading is not timed), runs the job of
``scheduled/schedule.yaml`` (notebooks that do not exist yet are reported as ``missing``) for the week before
the data's end, and prints one row per notebook and the total.

Usage: ``python -m bench reports [--sessions 50000 --days 90] [--no-million] [--workers N] [--exclude NAME]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "reports"
END = datetime(2026, 11, 23)  # a Monday: the run reports the complete week 2026-11-16..22


def _database(days: int, sessions: int) -> tuple[str, int]:
    import sqlalchemy as sa

    from analytics.db import get_engine
    from analytics.demo import load_demo
    from analytics.schema import analytics_events

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"demo-{days}d-{sessions}s.db"
    for stale in OUT.glob(f"{path.name}*"):  # always a fresh database on the current migrations
        stale.unlink()
    url = f"sqlite:///{path}"
    engine = get_engine(url)  # as deployed: WAL, synchronous=FULL, the package's page size
    load_demo(engine, days=days, sessions=sessions, seed=7, end=END)
    with engine.connect() as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(analytics_events)).scalar_one()
    engine.dispose()
    return url, int(events)


def _cpu() -> float:
    return sum(
        r.ru_utime + r.ru_stime
        for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def _case(name: str, days: int, sessions: int, workers: int | None, exclude: list[str]) -> float:
    import dataclasses

    from scheduled import load_schedule, run_job

    t0 = time.perf_counter()
    url, events = _database(days, sessions)
    load_s = time.perf_counter() - t0
    schedule = load_schedule()
    reports = OUT / f"run-{name}"
    cpu0 = _cpu()
    load0 = os.getloadavg()[0]
    weekly = schedule.job("weekly")
    weekly = dataclasses.replace(
        weekly, notebooks=tuple(nb for nb in weekly.notebooks if nb.name not in exclude)
    )
    record = run_job(
        weekly,
        sender=schedule.sender,
        run_date=(END + timedelta(days=1)).date(),
        force=True,
        reports_dir=reports,
        database_url=url,
        workers=workers,
        env={},
    )
    cpu = _cpu() - cpu0
    eml = Path(record.email_file) if record.email_file else None
    print(
        f"\n## {name}: {events:,} events ({days} days, {sessions:,} sessions; load {load_s:.1f} s, not timed)"
    )
    print(f"{'notebook':<24} {'status':<8} {'seconds':>8}")
    for nb in record.notebooks:
        print(f"{nb['name']:<24} {nb['status']:<8} {nb['seconds']:8.1f}")
    size = f"{eml.stat().st_size / 1e6:.2f} MB" if eml and eml.exists() else "-"
    print(
        f"{'TOTAL (job wall time)':<24} {record.status:<8} {record.duration_s:8.1f}   e-mail {size}, "
        f"workers {workers or len(os.sched_getaffinity(0))}"
    )
    print(
        f"CPU (this process, workers, kernels) {cpu:.1f} s; load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(other processes share the cores: compare CPU, not wall time, across runs)"
    )
    return record.duration_s


def main(argv: list[str] | None = None) -> int:
    """Run the cases and print their tables; exit 1 when a target is missed."""
    p = argparse.ArgumentParser(prog="python -m bench.reports")
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--sessions", type=int, default=50_000)
    p.add_argument("--no-million", dest="million", action="store_false", help="skip the 1 M-event case")
    p.add_argument(
        "--million-sessions",
        type=int,
        default=85_000,
        help="sessions that make about a million events (default 85,000: ≈1.0 M events)",
    )
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--exclude", action="append", default=[], help="leave this notebook out (repeatable)")
    args, _ = p.parse_known_args(argv)  # `python -m bench` passes every module the same options
    missed = []
    seconds = _case("demo", args.days, args.sessions, args.workers, args.exclude)
    if seconds >= 90:
        missed.append(f"demo case {seconds:.1f} s >= 90 s")
    if args.million:
        seconds = _case("million", args.days, args.million_sessions, args.workers, args.exclude)
        if seconds >= 180:
            missed.append(f"million case {seconds:.1f} s >= 180 s")
    for line in missed:
        print(f"TARGET MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
