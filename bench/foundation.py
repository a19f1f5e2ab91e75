"""Foundation benchmarks: demo generation speed (target: 1 M events < 30 s) and load throughput.

``python -m bench foundation`` — options: ``--events N`` (default 1,000,000), ``--pg URL`` to also load PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from analytics.db import _build_engine, upgrade
from analytics.demo import generate, insert_demo

# ≈11.8 events per session with the default configuration.
EVENTS_PER_SESSION = 11.75


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench foundation")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--pg", default=os.environ.get("BENCH_DATABASE_URL"))
    args = ap.parse_args(argv)
    sessions = int(args.events / EVENTS_PER_SESSION)
    t = time.perf_counter()
    data = generate(days=90, sessions=sessions, seed=7)
    gen_s = time.perf_counter() - t
    n = len(data.events)
    print("| step | events | seconds | events/s |\n| --- | --- | --- | --- |")
    print(f"| generate ({sessions:,} sessions) | {n:,} | {gen_s:.1f} | {n / gen_s:,.0f} |")
    with tempfile.TemporaryDirectory() as tmp:
        engine = _build_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        t = time.perf_counter()
        with engine.begin() as conn:
            insert_demo(conn, data)
        load_s = time.perf_counter() - t
        print(f"| load into SQLite | {n:,} | {load_s:.1f} | {n / load_s:,.0f} |")
        engine.dispose()
    if args.pg:
        engine = _build_engine(args.pg)
        upgrade(engine)
        t = time.perf_counter()
        with engine.begin() as conn:
            insert_demo(conn, data)
        load_s = time.perf_counter() - t
        print(f"| load into PostgreSQL | {n:,} | {load_s:.1f} | {n / load_s:,.0f} |")
        engine.dispose()
    return 0 if gen_s < 30 else 1
