"""Benchmark: BI computations. Targets (issue 7): BG/NBD fit on 100,000 customers under 10 s; the cohort
retention matrix over 10 million events in PostgreSQL under 10 s with the Python process under 500 MB.

* BG/NBD: 100,000 customers simulated from the published CDNOW parameters (r=0.243, alpha=4.414, a=0.793,
  b=2.426, T uniform on 0-39 weeks, purchase times kept at day resolution as in real data), fitted once.
* Cohorts: synthetic ``ai_calculator_opened`` events (one session per visit, ``--persons`` users returning
  over 26 weeks) COPY-loaded into a scratch PostgreSQL database (``--pg-url``, default ``scratch_bi`` on the
  local server, created when missing), then one weekly first-time matrix in SQL; peak RSS is measured.

Usage: ``python -m bench.bi [--events 10000000] [--skip-cohorts]``.
"""

from __future__ import annotations

import argparse
import io
import time
from datetime import datetime, timedelta

import numpy as np
import psutil

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/scratch_bi"


def _simulate_bgnbd(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = np.round(rng.uniform(1, 39, n) * 7) / 7
    x = np.zeros(n)
    tx = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        t[alive] += rng.exponential(1 / np.maximum(lam[alive], 1e-12))
        buy = alive & (t <= T)
        x[buy] += 1
        tx[buy] = np.round(t[buy] * 7) / 7
        alive = buy & (rng.random(n) >= p)
    return x, np.minimum(tx, T), T


def bench_bgnbd(n: int = 100_000) -> dict[str, float]:
    from analytics.ltv import BetaGeoModel

    x, tx, T = _simulate_bgnbd(n)
    t0 = time.perf_counter()
    m = BetaGeoModel().fit(x, tx, T)
    dt_ = time.perf_counter() - t0
    return {"customers": n, "unique": m.diagnostics_.n_unique, "seconds": dt_, **m.params_}


def _load_events(engine, n_events: int, persons: int, seed: int = 3) -> None:  # noqa: ANN001
    from sqlalchemy import text

    from analytics.db import upgrade

    upgrade(engine)
    with engine.begin() as conn:
        have = conn.execute(text("select count(*) from analytics_events")).scalar_one()
    if have >= n_events:
        return
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 4)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        chunk = 1_000_000
        for lo in range(have, n_events, chunk):
            k = min(chunk, n_events - lo)
            person = rng.integers(0, persons, k)
            first_day = (person * 7919) % 120  # each person's first week, spread over 17 weeks
            day = first_day + rng.geometric(0.15, k) - 1
            ts = [
                start + timedelta(days=int(d), seconds=int(s)) for d, s in zip(day, rng.integers(0, 86400, k), strict=True)
            ]
            buf = io.StringIO()
            for i in range(k):
                buf.write(
                    f"e{lo + i}\tai_calculator_opened\tu{person[i]}\ts{lo + i}\t{ts[i]}\t{ts[i]}\t{{}}\n"
                )
            buf.seek(0)
            with cur.copy(
                "COPY analytics_events (event_id, event_type, user_id, session_id, timestamp, received_at,"
                " event_data) FROM STDIN"
            ) as cp:
                cp.write(buf.read())
            raw.commit()
        cur.execute("ANALYZE analytics_events")
        raw.commit()
    finally:
        raw.close()


def bench_cohorts(n_events: int, pg_url: str) -> dict[str, float]:
    from sqlalchemy import create_engine, text

    from analytics.cohorts import retention_matrix
    from analytics.partitions import maintain

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("select 1 from pg_database where datname='scratch_bi'")).scalar():
            conn.execute(text("CREATE DATABASE scratch_bi"))
    admin.dispose()
    engine = create_engine(pg_url)
    from analytics.db import upgrade

    upgrade(engine)
    with engine.begin() as conn:
        maintain(conn, start=datetime(2026, 1, 1), end=datetime(2026, 12, 31))
    t0 = time.perf_counter()
    _load_events(engine, n_events, persons=max(n_events // 8, 1))
    load_s = time.perf_counter() - t0
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    res = retention_matrix(
        engine, start_date="2026-01-04", end_date="2026-06-27", period="week", cohort_type="first_time"
    )
    secs = time.perf_counter() - t0
    rss1 = proc.memory_info().rss
    return {
        "events": n_events,
        "load_s": load_s,
        "seconds": secs,
        "rss_mb": rss1 / 2**20,
        "rss_growth_mb": (rss1 - rss0) / 2**20,
        "cohort0": float(res.counts.iloc[0, 0]),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--skip-cohorts", action="store_true")
    args = ap.parse_args(argv)
    bg = bench_bgnbd(args.customers)
    print("| case | size | seconds | notes |\n| --- | --- | --- | --- |")
    print(
        f"| BG/NBD fit | {bg['customers']:,} customers ({bg['unique']:,} distinct) | {bg['seconds']:.2f} | "
        f"r={bg['r']:.3f} alpha={bg['alpha']:.3f} a={bg['a']:.3f} b={bg['b']:.3f} |"
    )
    if not args.skip_cohorts:
        c = bench_cohorts(args.events, args.pg_url)
        print(
            f"| cohort matrix (PostgreSQL, weekly, first-time) | {c['events']:,} events | {c['seconds']:.2f} | "
            f"RSS {c['rss_mb']:.0f} MB (+{c['rss_growth_mb']:.0f}), load {c['load_s']:.0f} s |"
        )


if __name__ == "__main__":
    main()
