"""Benchmark: BI computations. Targets (issue 7): BG/NBD fit on 100,000 customers under 10 s; the cohort
retention matrix over 10 million events in PostgreSQL under 10 s with the Python process under 500 MB.

* BG/NBD: 100,000 customers simulated from the published CDNOW parameters (r=0.243, alpha=4.414, a=0.793,
  b=2.426, T uniform on 0-39 weeks, purchase times kept at day resolution as in real data), fitted once.
* Cohorts: demo-generator events (``analytics.demo``, 26 weeks, about 11.75 events per session, seeds 100, 101,
  ... one per million events) COPY-loaded into a scratch PostgreSQL database (``--pg-url``, default
  ``scratch_bi`` on the local server, created when missing; the load runs in a child process and is kept for
  the next run), then weekly first-time and recurring matrices over the whole period in SQL, best of three;
  the peak RSS of this process (``ru_maxrss``) is reported.

Usage: ``python -m bench.bi [--events 10000000] [--skip-cohorts]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from datetime import datetime, timedelta

import numpy as np

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


_EVENTS_PER_SESSION = 11.75  # the demo generator's default configuration (see bench/foundation.py)
_DEMO_CHUNK_EVENTS = 1_000_000
_DEMO_END = datetime(2026, 11, 1)
_DEMO_DAYS = 182


def _load_demo_events(engine, n_events: int) -> None:  # noqa: ANN001
    """Load demo-generator events in chunks of about a million (seeds 100, 101, ... so ids never collide)
    until the database holds ``n_events``; each chunk is its own transaction, so an interrupted load resumes."""
    from sqlalchemy import text

    from analytics.db import upgrade
    from analytics.demo import generate, insert_demo

    upgrade(engine)
    seed, loaded = 100, False
    while True:
        with engine.connect() as conn:
            have = conn.execute(text("select count(*) from analytics_events")).scalar_one()
            done = conn.execute(
                text("select count(*) from event_keys where event_id like :p"), {"p": f"demo{seed}-%"}
            ).scalar_one()
        if have >= n_events * 0.995:
            break
        if not done:
            sessions = int(min(_DEMO_CHUNK_EVENTS, n_events - have) / _EVENTS_PER_SESSION) + 1
            data = generate(days=_DEMO_DAYS, sessions=sessions, seed=seed, end=_DEMO_END, experiments=False)
            with engine.begin() as conn:
                insert_demo(conn, data)
            loaded = True
            print(f"  loaded seed {seed}: {len(data.events):,} events", flush=True)
        seed += 1
    if loaded:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def _load_demo_events_url(pg_url: str, n_events: int) -> None:
    from sqlalchemy import create_engine

    _load_demo_events(create_engine(pg_url), n_events)


def _scratch_engine(pg_url: str):  # noqa: ANN202
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(pg_url).database
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("select 1 from pg_database where datname=:n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return create_engine(pg_url)


def bench_cohorts(n_events: int, pg_url: str, repeat: int = 3) -> list[dict[str, float]]:
    """Weekly cohort matrices (first-time and recurring) over the whole demo period; best of ``repeat``."""
    from analytics.cohorts import retention_matrix

    engine = _scratch_engine(pg_url)
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    loader = ctx.Process(target=_load_demo_events_url, args=(pg_url, n_events))
    loader.start()
    loader.join()
    load_s = time.perf_counter() - t0
    with engine.connect() as conn:
        from sqlalchemy import text

        have = conn.execute(text("select count(*) from analytics_events")).scalar_one()
    start = (_DEMO_END - timedelta(days=_DEMO_DAYS)).date().isoformat()
    end = (_DEMO_END - timedelta(days=1)).date().isoformat()
    out = []
    for cohort_type in ("first_time", "recurring"):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = retention_matrix(engine, start_date=start, end_date=end, period="week", cohort_type=cohort_type)
            times.append(time.perf_counter() - t0)
        out.append({
            "cohort_type": cohort_type,
            "events": have,
            "load_s": load_s,
            "seconds": min(times),
            "median_s": float(np.median(times)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "people": int(res.sizes.sum()),
        })
    from analytics.cohort_revenue import cohort_revenue
    from analytics.ltv import subscription_churn, subscriptions

    t0 = time.perf_counter()
    rev = cohort_revenue(engine, start_date=start, end_date=end, period="week")
    secs = time.perf_counter() - t0
    out.append({"cohort_type": "revenue by first-time cohort", "events": have, "load_s": load_s,
                "seconds": secs, "median_s": secs,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "people": int(rev.sizes.sum())})
    t0 = time.perf_counter()
    churn = subscription_churn(subscriptions(engine, as_of=_DEMO_END))
    secs = time.perf_counter() - t0
    print("monthly churn by plan (configured 0.20 / 0.15 / 0.10):",
          ", ".join(f"{p} {r.monthly_churn:.4f} [{r.ci_low:.4f}, {r.ci_high:.4f}]" for p, r in churn.iterrows()),
          f"({int(churn['subscribers'].sum()):,} subscriptions, {secs:.2f} s)")
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--skip-cohorts", action="store_true")
    args, _ = ap.parse_known_args(argv)  # `python -m bench` passes every option to every module
    bg = bench_bgnbd(args.customers)
    print("| case | size | seconds | notes |\n| --- | --- | --- | --- |")
    print(
        f"| BG/NBD fit | {bg['customers']:,} customers ({bg['unique']:,} distinct) | {bg['seconds']:.2f} | "
        f"r={bg['r']:.3f} alpha={bg['alpha']:.3f} a={bg['a']:.3f} b={bg['b']:.3f} |"
    )
    if not args.skip_cohorts:
        for c in bench_cohorts(args.events, args.pg_url):
            print(
                f"| cohort matrix (PostgreSQL, weekly, {c['cohort_type']}) | {c['events']:,} events | "
                f"{c['seconds']:.2f} (median {c['median_s']:.2f}) | RSS {c['peak_rss_mb']:.0f} MB, "
                f"{c['people']:,} cohort members, data check/load {c['load_s']:.0f} s |"
            )


if __name__ == "__main__":
    main()
