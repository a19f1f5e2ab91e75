"""Benchmark: in-process assignment rate and test results for one million exposed units in PostgreSQL.

Targets (issue 6): at least 200,000 assignments/s in-process; results (all statistics, SQL sums included) for a
test with 1,000,000 exposed units in under 5 s on PostgreSQL. The PostgreSQL data (1 M session-unit
assignments, ~10 % converting with an upgrade click, ~3 % paying) is written once with COPY into the database
``bench_experiments`` and reused.

Usage: ``python -m bench.experiments [--units 1000000] [--pg-url URL] [--skip-pg]``.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from datetime import datetime, timedelta

import numpy as np

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_experiments"
TEST_ID = "bench-1m"
START = datetime(2026, 10, 1)


def _assignment_rate(n: int = 200_000) -> list[tuple[str, float]]:
    from analytics.experiments import Assigner

    ids = [f"user-{i:09d}" for i in range(n)]
    a = Assigner("bench-seed", ["control", "premium", "pro"], weights=[0.5, 0.25, 0.25], coverage=0.9)
    t = time.perf_counter()
    for u in ids:
        a(u)
    per_call = n / (time.perf_counter() - t)
    t = time.perf_counter()
    a.assign_many(ids)
    batch = n / (time.perf_counter() - t)
    return [("assignments/s, one call per unit (Assignment objects)", per_call),
            ("assignments/s, vectorised assign_many", batch)]  # fmt: skip


def _ensure_db(url: str) -> None:
    import sqlalchemy as sa

    u = sa.make_url(url)
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}).scalar():
            conn.execute(sa.text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def _load(engine, units: int) -> None:
    from sqlalchemy import func, select

    from analytics.db import upgrade
    from analytics.experiments import Variant, create_test, start_test
    from analytics.partitions import maintain
    from analytics.schema import ab_assignments, ab_tests

    upgrade(engine)
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(ab_tests).where(ab_tests.c.test_id == TEST_ID)).scalar():
            if conn.execute(select(func.count()).select_from(ab_assignments)).scalar() == units:
                return
    variants = [Variant("control", 0.5), Variant("premium", 0.25), Variant("pro", 0.25)]
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE ab_tests, ab_assignments, analytics_events, event_keys")
    create_test(engine, name="bench", test_type="custom", variants=variants, unit="session", test_id=TEST_ID,
                primary_metric="conversion", guardrail_metrics=("revenue",), now=START)  # fmt: skip
    start_test(engine, TEST_ID, now=START)
    from analytics.experiments import Assigner

    rng = np.random.default_rng(1)
    ids = [f"s-{i:09d}" for i in range(units)]
    idx, buckets = Assigner(TEST_ID, ["control", "premium", "pro"], weights=[0.5, 0.25, 0.25]).assign_many(ids)
    names = np.array(["control", "premium", "pro"])[idx]
    t_exp = np.datetime64(START + timedelta(seconds=1), "s") + (rng.random(units) * 30 * 86400).astype("timedelta64[s]")
    with engine.begin() as conn:
        maintain(conn, start=START, end=START + timedelta(days=60))
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        buf = io.StringIO()
        for u, v, b, t in zip(ids, names, buckets, t_exp, strict=True):
            buf.write(f"{TEST_ID}\t{u}\t{v}\t0\t{b}\t{t}\n")
        with cur.copy("COPY ab_assignments (test_id, unit_id, variant, phase, hash_value, first_exposure_at) "
                      "FROM STDIN") as cp:  # fmt: skip
            cp.write(buf.getvalue())
        p = np.where(names == "control", 0.10, np.where(names == "premium", 0.11, 0.095))
        conv = rng.random(units) < p
        paid = conv & (rng.random(units) < 0.3)
        buf = io.StringIO()
        k = 0
        for i in np.flatnonzero(conv):
            t = t_exp[i] + np.timedelta64(60, "s")
            buf.write(f"b{k}\tpaid_upgrade_clicked\t\\N\t{ids[i]}\t{t}\t{t}\t{{}}\n")
            k += 1
            if paid[i]:
                t2 = t + np.timedelta64(60, "s")
                buf.write(f"b{k}\tpayment_succeeded\t\\N\t{ids[i]}\t{t2}\t{t2}\t"
                          f"{json.dumps({'plan': 'basic', 'amount': 49.99})}\n")  # fmt: skip
                k += 1
        with cur.copy("COPY analytics_events (event_id, event_type, user_id, session_id, timestamp, received_at, "
                      "event_data) FROM STDIN") as cp:  # fmt: skip
            cp.write(buf.getvalue())
        raw.commit()
        cur.execute("ANALYZE ab_assignments; ANALYZE analytics_events")
        raw.commit()
    finally:
        raw.close()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.experiments")
    ap.add_argument("--units", type=int, default=1_000_000)
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args(argv)
    rows = [(name, value, "≥ 200,000") for name, value in _assignment_rate()]
    if not args.skip_pg:
        from analytics.db import _build_engine
        from analytics.experiments import ABTesting

        _ensure_db(args.pg_url)
        engine = _build_engine(args.pg_url)
        t = time.perf_counter()
        _load(engine, args.units)
        print(f"(data ready in {time.perf_counter() - t:.1f} s)")
        ab = ABTesting(engine)
        ab.get_results(TEST_ID)  # warm the caches once
        times = []
        for _ in range(3):
            t = time.perf_counter()
            report = ab.get_results(TEST_ID)
            times.append(time.perf_counter() - t)
        units = sum(s.units for s in report.metrics["conversion"].variants)
        rows.append((f"get_results, {units:,} exposed units, PostgreSQL (s, best of 3)", min(times), "< 5"))
        engine.dispose()
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>14}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>14,.2f}  {target}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
