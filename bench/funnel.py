"""Benchmark: the calculator funnel and the conversion-by-risk table in the database vs in pandas.

Targets (issue 5): 10 million events in PostgreSQL — funnel and conversion table each under 10 s with the Python
process's peak memory under 500 MB, at least 5× faster than loading every event into pandas and computing
there; 1 million events in SQLite — each under 5 s. Data comes from the demo generator (≈12.5 events per
session); SQLite files and the PostgreSQL database are reused when they already hold the same data. Every
measurement runs in a fresh child process, so "peak MB" is that process's peak resident memory (imports
included).

Usage: ``python -m bench.funnel [--events 1000000] [--backend sqlite|postgresql] [--pg-url URL] [--no-pandas]
[--repeat N]``. The pandas baseline holds every event as Python objects (≈2 GB per million events), so at 10
million events it needs ≈20 GB: run it there only on a machine that has the memory.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "funnel"
END = datetime(2026, 11, 23)
DAYS = 90
EVENTS_PER_SESSION = 12.5
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_funnel"


def _ensure_pg_database(url: str) -> None:
    import sqlalchemy as sa

    u = sa.make_url(url)
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}
        ).scalar():
            conn.execute(sa.text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def _revision(conn) -> str | None:
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _vacuum(engine) -> None:
    """Fresh statistics and, on PostgreSQL, the visibility map that index-only scans need — what autovacuum
    gives a live database some time after a bulk load."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")


def prepare(events: int, backend: str, pg_url: str) -> tuple[str, int, datetime, datetime]:
    """A database holding about ``events`` generated events; returns (url, events, start, end)."""
    import sqlalchemy as sa

    from analytics.db import get_engine, sqlite_page_size, upgrade
    from analytics.demo import generate, insert_demo
    from analytics.schema import analytics_events

    sessions = max(int(events / EVENTS_PER_SESSION), 100)
    if backend == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        # the page size in the name (ANALYTICS_SQLITE_PAGE_SIZE): a file made with other pages is not reused
        url = f"sqlite:///{OUT / f'funnel-{sessions}s-p{sqlite_page_size()}.db'}"
        engine = get_engine(url)  # as deployed: the package's page size for a new file
    else:
        url = pg_url
        _ensure_pg_database(url)
        engine = sa.create_engine(url)
    with engine.connect() as conn:
        before = _revision(conn)
    upgrade(engine)
    with engine.connect() as conn:
        migrated = before is not None and _revision(conn) != before
    with engine.connect() as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(analytics_events)).scalar_one()
    if have == 0:
        t = time.perf_counter()
        data = generate(days=DAYS, sessions=sessions, seed=7, end=END)
        print(f"generated {len(data.events):,} events in {time.perf_counter() - t:.0f} s", flush=True)
        t = time.perf_counter()
        with engine.begin() as conn:
            insert_demo(conn, data)  # COPY on PostgreSQL, prepared executemany on SQLite
        _vacuum(engine)
        print(f"loaded in {time.perf_counter() - t:.0f} s", flush=True)
    elif migrated:
        _vacuum(engine)  # a new migration (e.g. 0003's backfill and index) left stale statistics
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(analytics_events)).scalar_one()
        lo, hi = conn.execute(
            sa.select(sa.func.min(analytics_events.c.timestamp), sa.func.max(analytics_events.c.timestamp))
        ).one()
    engine.dispose()
    lo = lo if isinstance(lo, datetime) else datetime.fromisoformat(lo)
    hi = hi if isinstance(hi, datetime) else datetime.fromisoformat(hi)
    return url, int(n), lo.replace(hour=0, minute=0, second=0, microsecond=0), END.replace(year=END.year + 1)


def _db_funnel(url, start, end):
    import sqlalchemy as sa

    from analytics.funnel import calculator_funnel

    return calculator_funnel(sa.create_engine(url), start, end, n_form_steps=5).table["count"].tolist()


def _db_conversion(url, start, end):
    import sqlalchemy as sa

    from analytics.dashboard import conversion_rates

    return conversion_rates(sa.create_engine(url), start, end)["converted"].tolist()


def _pandas_funnel(url, start, end):
    import sqlalchemy as sa

    from analytics.funnel import calculator_steps, from_storage, funnel
    from analytics.storage import read_events

    frame = from_storage(read_events(sa.create_engine(url), start, end))
    return funnel(frame, calculator_steps(5)).table["count"].tolist()


def _pandas_conversion(url, start, end):
    import pandas as pd
    import sqlalchemy as sa

    from analytics.storage import read_events

    ev = read_events(sa.create_engine(url), start, end)
    a = ev[ev["event_type"] == "assessment_submitted"].sort_values(["timestamp", "id"])
    first = (
        a.groupby("person_id")
        .head(1)
        .assign(risk=lambda d: d["event_data"].map(lambda x: x.get("risk_level")))
    )
    paid = ev[ev["event_type"] == "payment_succeeded"].groupby("person_id")["timestamp"].max().rename("paid")
    j = first.join(paid, on="person_id")
    j["conv"] = (j["paid"] >= j["timestamp"]).astype(int)
    return j.groupby("risk")["conv"].sum().reindex(pd.Index(["high", "low", "medium"])).tolist()


def _child(fn, args, queue):
    import analytics.dashboard  # noqa: F401 - imports are not part of the measurement
    import analytics.funnel  # noqa: F401
    import analytics.storage  # noqa: F401

    t = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - t
    # VmHWM (peak resident set of this process image); ru_maxrss would carry the parent's peak across exec.
    status = Path("/proc/self/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    queue.put((seconds, hwm / 1024, result))


def measure(fn, *args) -> tuple[float, float, object]:
    """Run ``fn(*args)`` in a fresh process; return (seconds, peak MB, result)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--no-pandas", action="store_true", help="skip the load-everything-into-pandas baseline")
    ap.add_argument("--repeat", type=int, default=1, help="database measurements per computation (median shown)")
    args, _ = ap.parse_known_args(argv)  # `python -m bench` hands every module the same options
    url, n, start, end = prepare(args.events, args.backend, args.pg_url)
    print(f"\n{args.backend}: {n:,} events")
    print(f"{'computation':<34}{'seconds':>9}{'peak MB':>9}{'vs pandas':>11}")
    rows = [
        ("calculator funnel", _db_funnel, _pandas_funnel),
        ("conversion by risk level", _db_conversion, _pandas_conversion),
    ]
    for name, db_fn, pd_fn in rows:
        runs = [measure(db_fn, url, start, end) for _ in range(max(args.repeat, 1))]
        s, mb, res = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        if len(runs) > 1:
            print(f"  {name}: database runs {', '.join(f'{r[0]:.2f}' for r in runs)} s", flush=True)
        if args.no_pandas:
            print(f"{name + ' (database)':<34}{s:>9.2f}{mb:>9.0f}{'':>11}")
            continue
        ps, pmb, pres = measure(pd_fn, url, start, end)
        same = "same result" if pres == res else f"DIFFERENT {pres} vs {res}"
        print(f"{name + ' (database)':<34}{s:>9.2f}{mb:>9.0f}{ps / s:>10.1f}x")
        print(f"{name + ' (pandas)':<34}{ps:>9.2f}{pmb:>9.0f}{'':>11}  {same}")


if __name__ == "__main__":
    main()
