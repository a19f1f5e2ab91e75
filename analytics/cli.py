"""The ``analytics`` command line: database upkeep, demo data, and the demo run.

::

    analytics db upgrade            # apply migrations to DATABASE_URL (default: data/analytics.db)
    analytics db maintain           # create future monthly partitions (PostgreSQL; idempotent)
    analytics demo-data --days 90 --sessions 50000 --seed 7 [--replace]
    analytics demo                  # demo data + every notebook → HTML reports under reports/demo/
    analytics alerts check|watch    # evaluate the alert rules once / every --interval seconds
    analytics privacy purge --days N | delete --user-id U   # retention and deletion requests (docs/privacy.md)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from analytics.db import PROJECT_ROOT, database_url, get_engine, upgrade
from analytics.errors import AnalyticsError

__all__ = ["main"]


def _cmd_db(args: argparse.Namespace) -> int:
    engine = get_engine()
    if args.action == "upgrade":
        upgrade(engine)
        print(f"schema up to date: {engine.url.render_as_string(hide_password=True)}")
    else:
        from analytics.partitions import maintain

        upgrade(engine)
        created = maintain(engine, months_ahead=args.months_ahead)
        print(f"partitions created: {', '.join(created) if created else 'none needed'}")
    return 0


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from analytics.demo import load_demo

    started = time.perf_counter()
    result = load_demo(days=args.days, sessions=args.sessions, seed=args.seed, replace=args.replace)
    took = time.perf_counter() - started
    if result.loaded:
        print(f"loaded {result.events:,} demo events ({result.start:%Y-%m-%d} to {result.end:%Y-%m-%d}) in {took:.1f} s")
    else:
        print(f"demo data already present ({result.events:,} events); use --replace to regenerate")
    return 0


def _cmd_alerts(args: argparse.Namespace) -> int:
    """Evaluate the alert rules once (``check``) or every ``--interval`` seconds until stopped (``watch``)."""
    import signal
    import threading

    from analytics.alerts.runner import AlertRunner
    from analytics.performance import ai_calculator_performance

    engine = get_engine()
    upgrade(engine)
    ai_calculator_performance.start_monitoring()
    runner = AlertRunner.from_env(ai_calculator_performance, engine, args.config)
    if args.action == "check":
        deliveries = runner.evaluate_once()
        for d in deliveries:
            print(f"{d.rule}: {d.state} ({d.severity}) via {d.channel}: {'sent' if d.ok else 'FAILED'}")
        print(f"{len(deliveries)} notification(s)")
        ai_calculator_performance.stop_monitoring()
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start(args.interval)
    print(f"evaluating alert rules every {args.interval:g} s; Ctrl-C to stop", flush=True)
    stop.wait()
    runner.stop()
    ai_calculator_performance.stop_monitoring()
    return 0


def notebooks_in(folder: Path) -> list[Path]:
    """The notebooks ``make demo`` runs: every ``*.ipynb`` in ``folder`` (not checkpoints), sorted."""
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("_"))


def _cmd_demo(args: argparse.Namespace) -> int:
    from analytics.notebook_runner import NotebookFailedError, run_notebook

    _cmd_demo_data(args)
    out_dir = Path(args.output)
    books = notebooks_in(Path(args.notebooks))
    params = {"database_url": database_url()}
    print(f"running {len(books)} notebooks with papermill ({args.jobs} at a time)...", flush=True)

    def run(path: Path):
        try:
            return run_notebook(path, out_dir, params)
        except NotebookFailedError as exc:
            return exc.run

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(run, books))
    failed = [r for r in runs if not r.ok]
    for r in runs:
        status = "ok" if r.ok else f"FAILED: {r.error}"
        print(f"  {r.html_path or r.notebook_path}  ({r.seconds:.1f} s, {status})")
    if failed:
        print(f"{len(failed)} notebook(s) failed; their reports show the error cell", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="analytics", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="database schema upkeep")
    db.add_argument("action", choices=["upgrade", "maintain"])
    db.add_argument("--months-ahead", type=int, default=3)
    db.set_defaults(func=_cmd_db)
    al = sub.add_parser("alerts", help="evaluate the alert rules (docs/monitoring.md)")
    al.add_argument("action", choices=["check", "watch"])
    al.add_argument("--interval", type=float, default=30.0, help="seconds between evaluations (watch)")
    al.add_argument("--config", default=None, help="rules file (default: ALERT_RULES_FILE or the seed's thresholds)")
    al.set_defaults(func=_cmd_alerts)
    for name, func, helptext in (("demo-data", _cmd_demo_data, "load the demo data set"),
                                 ("demo", _cmd_demo, "demo data + every notebook as an HTML report")):
        d = sub.add_parser(name, help=helptext)
        d.add_argument("--days", type=int, default=90)
        d.add_argument("--sessions", type=int, default=50_000)
        d.add_argument("--seed", type=int, default=7)
        d.add_argument("--replace", action="store_true", help="delete and regenerate existing demo data")
        d.set_defaults(func=func)
        if name == "demo":
            d.add_argument("--notebooks", default=str(PROJECT_ROOT / "notebooks"))
            d.add_argument("--output", default=str(PROJECT_ROOT / "reports" / "demo"))
            d.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    from analytics.privacy_cli import add_privacy_parser  # issue 11

    add_privacy_parser(sub)  # issue 11
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except AnalyticsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
