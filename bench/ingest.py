"""Benchmark of the ingest sidecar against a hello-world Falcon app under the same gunicorn settings.

``python -m bench.ingest [--duration 8] [--repeat 5] [--writer process|thread] [--backends sqlite,postgresql]``
runs, per backend and side by side in one run (the machine is shared and noisy: compare ratios, not absolute
numbers; every workload runs ``--repeat`` times alternating with the hello-world, and the median run is shown):

- hello-world ``POST`` and ``GET`` (reads the body, answers a constant JSON) at full load, sent the very request
  stream its sidecar workload gets (the same generated events; the same ``?user_id=`` query of a new user each
  time), so that only the handler differs: ``wrk`` shares the two cores, and generating a request costs it more
  than replaying a fixed one;
- single-event ``POST /api/analytics/event`` (≈300-byte event, unique ``event_id``), durable (group commit) —
  at full load, then paced at half the rate reached, for the p99;
- 100-event batches, in events stored per second: the bar's workload cycles each ``wrk`` thread's events through
  997 sessions (100 sessions per batch); beside it, for information, batches in the tracker's shape (one session
  per batch: a page sends its own session's events), which cost the writer much less (one ``sessions`` row and
  one region of the session index per batch);
- ``GET /api/analytics/ab-testing/{id}/variant`` for distinct users of a running test.

Load generator: Debian's ``wrk`` (``-t2 -c16``) on loopback; pacing uses wrk's Lua ``delay()``. Each run also
reports the CPU time per request of the server's processes (gunicorn master and workers), of the writer process and
of wrk: the three share the two cores, so these say where a workload's time goes. PostgreSQL runs
when ``TEST_DATABASE_URL`` is set (a schema of its own, dropped afterwards).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import falcon

__all__ = ["cpu_budget", "hello_app", "main", "median_interval"]


class _Hello:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.bounded_stream.read()
        resp.content_type = falcon.MEDIA_JSON
        resp.text = '{"accepted":1,"duplicates":0,"rejected":[]}'

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.text = '{"variant":"control"}'


#: The hello-world handler the sidecar is compared with (served by the same gunicorn config).
hello_app = falcon.App()
hello_app.add_route("/hello", _Hello())

_EVENT_LUA = r"""
local counter = 0
local prefix = ""
local n = 0
function setup(thread) n = n + 1; thread:set("tid", n) end
function init(args) prefix = RUN .. "t" .. tostring(tid) .. "-" end
local function event(i)
  -- PER_BATCH: every batch one session of its own (the tracker's shape); otherwise 997 sessions per thread in turn
  local sess = PER_BATCH and math.floor((i - 1) / BATCH) or i % 997
  return '{"event_type":"calculator_step_completed","session_id":"sess-' .. prefix .. tostring(sess) ..
    '","user_id":null,"event_id":"' .. prefix .. tostring(i) ..
    '","event_data":{"step":3,"seconds_on_step":12.5,"source":"google","medium":"cpc","campaign":"spring",' ..
    '"device":"desktop","country":"US","region":"CA"}}'
end
request = function()
  local body
  if BATCH == 1 then
    counter = counter + 1
    body = event(counter)
  else
    local parts = {}
    for k = 1, BATCH do counter = counter + 1; parts[k] = event(counter) end
    body = '{"batch":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", PATH, {["Content-Type"] = "application/json"}, body)
end
"""

_VARIANT_LUA = r"""
local counter = 0
local prefix = ""
local n = 0
function setup(thread) n = n + 1; thread:set("tid", n) end
function init(args) prefix = RUN .. "t" .. tostring(tid) .. "-" end
request = function()
  counter = counter + 1
  return wrk.format("GET", PATH .. "?user_id=u" .. prefix .. tostring(counter))
end
"""

_PACE_LUA = r"""
-- wrk sleeps whole milliseconds: a fractional DELAY_MS is kept on average by rounding up at random
delay = function()
  local d = math.floor(DELAY_MS)
  if math.random() < DELAY_MS - d then d = d + 1 end
  return d
end
"""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _cpu_seconds(pgid: int) -> dict[str, float]:
    """CPU seconds (user + system, all threads) used so far by the processes of process group ``pgid``: the
    gunicorn master and workers (``server``) and the writer process they started (``writer``); and by every
    PostgreSQL server process of the machine (``database``: its backends do the work of the writer's statements,
    so a PostgreSQL run's CPU per request would otherwise leave it out; about 0 on SQLite)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"server": 0.0, "writer": 0.0, "database": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                head, _, rest = f.read().rpartition(")")
                fields = rest.split()
            if head.endswith("(postgres"):
                out["database"] += (int(fields[11]) + int(fields[12])) / tick
                continue
            if int(fields[2]) != pgid:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        out["writer" if b"writer_server" in cmd else "server"] += (int(fields[11]) + int(fields[12])) / tick
    return out


def _wrk(port: int, lua: str, duration: int, connections: int = 16, pgid: int | None = None) -> dict[str, float]:
    """One wrk run; with ``pgid`` (the server's process group) also the CPU µs per request of the server's
    processes, of the writer process and of wrk itself (the three share the machine's cores)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    before = _cpu_seconds(pgid) if pgid else None
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", f.name,
             f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=True, timeout=duration + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(f.name)
    after = _cpu_seconds(pgid) if pgid else None
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    result = {"rps": rps, "p50": p50, "p99": p99, "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
              "socket_errors": 1.0 if errors else 0.0}  # fmt: skip
    if before is not None and after is not None and rps > 0:
        per = 1e6 / (rps * duration)
        result["cpu_server_us"] = (after["server"] - before["server"]) * per
        result["cpu_writer_us"] = (after["writer"] - before["writer"]) * per
        result["cpu_database_us"] = (after["database"] - before["database"]) * per
        result["cpu_wrk_us"] = (done.ru_utime + done.ru_stime - children.ru_utime - children.ru_stime) * per
    return result


def _lua(template: str, **values: object) -> str:
    """``template`` with ``values`` as Lua globals; ``RUN`` is a fresh id for every script, so ids never repeat
    across runs (wrk's ``math.random`` starts from the same seed every time)."""
    values = {"RUN": uuid.uuid4().hex[:12], **values}
    head = "\n".join(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in values.items())
    return head + "\n" + template


def _database(backend: str, tmp: Path) -> tuple[str, callable]:
    from sqlalchemy import create_engine, make_url, text

    from analytics.db import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        return url, lambda: None
    base = os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    upgrade(url)

    def cleanup() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return url, cleanup


def _create_test(url: str) -> str:
    from analytics.db import get_engine
    from analytics.experiments import Variant, create_test, start_test

    engine = get_engine(url)
    create_test(engine, name="bench", test_type="custom", test_id="bench-offer",
                variants=[Variant("control", 0.5), Variant("discount", 0.5)])  # fmt: skip
    start_test(engine, "bench-offer")
    return "bench-offer"


def _count_events(url: str) -> int:
    from sqlalchemy import func, select

    from analytics.db import get_engine
    from analytics.schema import analytics_events

    with get_engine(url).connect() as conn:
        return conn.execute(select(func.count()).select_from(analytics_events)).scalar_one()


def _fsync_ms(tmp: Path, commits: int = 200) -> float:
    """Mean time of one tiny SQLite commit in WAL mode with ``synchronous=FULL`` (the disk's fsync, right now)."""
    import sqlite3
    import time

    conn = sqlite3.connect(tmp / f"fsync-{uuid.uuid4().hex}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (a TEXT)")
    start = time.perf_counter()
    for _ in range(commits):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES ('x')")
        conn.execute("COMMIT")
    conn.close()
    return (time.perf_counter() - start) / commits * 1000


def _storage_only(url: str, batches: int = 80, per_group: int = 4) -> dict[str, float]:
    """The writer's own ceiling, without HTTP: the benchmark's 100-event batches, prepared beforehand, written by
    :meth:`GroupWriter.write_now` ``per_group`` batches per transaction (what the writer process does under load)."""
    import time
    from datetime import UTC, datetime

    from sqlalchemy import make_url

    from analytics.db import get_engine
    from analytics.events import validate_event
    from analytics.storage import prepare_events
    from ingest_service.store import store_event_groups
    from ingest_service.writer import GroupWriter, Job

    run, now = uuid.uuid4().hex[:12], datetime.now(UTC).replace(tzinfo=None)
    data = {"step": 3, "seconds_on_step": 12.5, "source": "google", "medium": "cpc", "campaign": "spring",
            "device": "desktop", "country": "US", "region": "CA"}  # fmt: skip
    dialect = make_url(url).get_backend_name()
    payloads = []
    for b in range(batches):
        events = [validate_event({"event_type": "calculator_step_completed", "session_id": f"sess-{run}-{i % 997}",
                                  "event_id": f"{run}-{i}", "event_data": data}, now=now)
                  for i in range(b * 100, b * 100 + 100)]  # fmt: skip
        for e in events:
            e.received_at = now
        payloads.append(tuple(prepare_events(events, dialect)))
    writer = GroupWriter(lambda: get_engine(url), {"events": store_event_groups})
    wall, cpu = time.perf_counter(), time.process_time()
    for lo in range(0, batches, per_group):
        jobs = [Job("events", p, 100, True) for p in payloads[lo : lo + per_group]]
        writer.write_now(jobs)
        if any(j.error is not None for j in jobs):
            raise RuntimeError(f"storage benchmark failed: {jobs[0].error}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"events_per_s": batches * 100 / wall, "cpu_us_per_event": cpu / (batches * 100) * 1e6}


def _next_delay(delay_ms: float, measured_rps: float, target_rps: float, connections: int = 16) -> float:
    """The pause (ms) after each answer that brings ``connections`` closed-loop ``wrk`` connections to
    ``target_rps``.

    Each connection sends, waits for the answer (latency ``L``), then pauses ``delay_ms``, so the rate is
    ``connections / (L + delay)``. A run with ``delay_ms`` that reached ``measured_rps`` gives
    ``L = connections / measured_rps - delay_ms``; the pause for the target is ``connections / target_rps - L``
    (never negative). ``L`` falls with the load, so a second probe at the new pause refines it.
    """
    if measured_rps <= 0 or target_rps <= 0:
        raise ValueError(f"rates must be positive (got measured_rps={measured_rps}, target_rps={target_rps})")
    latency_ms = connections / measured_rps * 1000 - delay_ms
    return max(0.0, connections / target_rps * 1000 - latency_ms)


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median requests/s (its latencies stay consistent with its rate)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def run_backend(backend: str, duration: int, workers: int = 2, threads: int = 16, repeat: int = 3,
                writer: str = "process") -> dict[str, dict[str, float]]:  # fmt: skip
    """All measurements for one backend: each workload ``repeat`` times, alternating with its hello-world run, so
    that both see the same machine; the median run of each is reported."""
    from ingest_service.testing import Server

    # as deployed: a pseudonym key of its own (production refuses to start without one)
    env = {"INGEST_RATE_LIMIT": "1000000", "INGEST_RATE_BURST": "1000000", "INGEST_WRITER": writer,
           "ANALYTICS_PSEUDONYM_KEY": "bench-" + uuid.uuid4().hex}  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url, cleanup = _database(backend, Path(tmp))
        try:
            test_id = _create_test(url)
            fsync = _fsync_ms(Path(tmp))
            path, vpath = "/api/analytics/event", f"/api/analytics/ab-testing/{test_id}/variant"
            with (Server(url, env, workers=workers, threads=threads, app="bench.ingest:hello_app") as hello,
                  Server(url, env, workers=workers, threads=threads) as srv):  # fmt: skip
                _wrk(srv.port, _lua(_EVENT_LUA, PATH=path, BATCH=1), 2)  # warm-up: the writer process starts
                pgids = {hello.port: hello.proc.pid, srv.port: srv.proc.pid}  # each server leads its own session
                for _ in range(repeat):
                    for name, port, lua in (
                        ("hello POST", hello.port, _lua(_EVENT_LUA, PATH="/hello", BATCH=1)),
                        ("single event", srv.port, _lua(_EVENT_LUA, PATH=path, BATCH=1)),
                        ("hello GET", hello.port, _lua(_VARIANT_LUA, PATH="/hello")),
                        ("variant", srv.port, _lua(_VARIANT_LUA, PATH=vpath)),
                        ("batch of 100", srv.port, _lua(_EVENT_LUA, PATH=path, BATCH=100)),
                        (ONE_SESSION, srv.port, _lua(_EVENT_LUA, PATH=path, BATCH=100, PER_BATCH=1)),
                    ):
                        counted = name in ("batch of 100", ONE_SESSION)
                        before = _count_events(url) if counted else 0
                        result = _wrk(port, lua, duration, pgid=pgids[port])
                        if counted:
                            result["events_per_s"] = (_count_events(url) - before) / duration
                        runs.setdefault(name, []).append(result)
                results = {name: _median_run(r) for name, r in runs.items()}
                # each run against the hello-world run just before it: drifts of the machine cancel out
                paired = {name: sorted(s["rps"] / h["rps"] for s, h in zip(runs[name], runs[base], strict=True))
                          for name, base in (("single event", "hello POST"), ("variant", "hello GET"))}  # fmt: skip
                half = results["single event"]["rps"] / 2
                delay = _next_delay(0.0, results["single event"]["rps"], half)
                for _ in range(2):  # probes: the latency at half load is lower than at full load
                    probe = _wrk(srv.port, _lua(_EVENT_LUA + _PACE_LUA, PATH=path, BATCH=1, DELAY_MS=delay), 2)
                    delay = _next_delay(delay, probe["rps"], half)
                results["single event, half load"] = _wrk(
                    srv.port, _lua(_EVENT_LUA + _PACE_LUA, PATH=path, BATCH=1, DELAY_MS=delay), duration,
                    pgid=srv.proc.pid,
                )
            order = ["hello POST", "hello GET", "single event", "single event, half load", "batch of 100", ONE_SESSION,
                     "variant"]  # fmt: skip
            results = {name: results[name] for name in order}
            storage = sorted((_storage_only(url) for _ in range(repeat)), key=lambda r: r["events_per_s"])
            results["_context"] = {"fsync_ms": _fsync_ms(Path(tmp)), "fsync_before_ms": fsync,
                                   "load": os.getloadavg()[0], "workers": workers, "threads": threads,
                                   "repeat": repeat, "writer": writer,
                                   "storage": storage[len(storage) // 2], "paired": paired,
                                   "batch_runs": [x["events_per_s"] for x in runs["batch of 100"]],
                                   "one_session_runs": [x["events_per_s"] for x in runs[ONE_SESSION]]}  # fmt: skip
        finally:
            from analytics.db import dispose_engines

            dispose_engines()
            cleanup()
    return results


def _table(backend: str, r: dict[str, dict[str, float]]) -> str:
    hp, hg = r["hello POST"]["rps"], r["hello GET"]["rps"]
    rows = [f"### {backend}", "", "| workload | req/s | events/s | vs hello-world | p50 ms | p99 ms | non-2xx | "
            "CPU µs per request: server / writer / PostgreSQL / wrk |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    ctx = r.pop("_context")
    rows[0] += (f" — {ctx['workers']} workers × {ctx['threads']} threads, {ctx['writer']} writer; median of "
                f"{ctx['repeat']} alternating runs; SQLite FULL commit {ctx['fsync_before_ms']:.1f} ms before / "
                f"{ctx['fsync_ms']:.1f} ms after; load average {ctx['load']:.1f}")
    for name, m in r.items():
        base = hg if name in ("hello GET", "variant") else hp
        events = m.get("events_per_s", m["rps"] if name.startswith("single") else float("nan"))
        ev = f"{events:,.0f}" if events == events else ""
        cpu = (f"{m['cpu_server_us']:.0f} / {m['cpu_writer_us']:.0f} / {m.get('cpu_database_us', 0):.0f} / "
               f"{m['cpu_wrk_us']:.0f}"
               if "cpu_server_us" in m else "")
        rows.append(f"| {name} | {m['rps']:,.0f} | {ev} | {m['rps'] / base:.2f} | {m['p50']:.2f} | "
                    f"{m['p99']:.2f} | {m['non2xx']:.0f} | {cpu} |")  # fmt: skip
    for name, ratios in ctx["paired"].items():
        rows.append(f"| {name}: each run / the hello-world run before it | | | {ratios[len(ratios) // 2]:.2f} "
                    f"({', '.join(f'{x:.2f}' for x in ratios)}) | | | | |")  # fmt: skip
    rows += ["", *_verdicts(r, ctx["paired"], ctx.get("batch_runs", ())), *cpu_budget(r)]
    one = ctx.get("one_session_runs") or []
    if len(one) >= 2:
        low, high, cov = median_interval(one)
        rows.append(f"- for comparison, not the bar's workload -- {ONE_SESSION} (the tracker's shape): "
                    f"{r[ONE_SESSION]['events_per_s']:,.0f} events/s, {cov:.2%} interval {low:,.0f} to {high:,.0f}")
    st = ctx["storage"]
    rows += ["", f"Storage alone (no HTTP; 100-event batches, 4 per transaction, written by the group writer in this "
                 f"process): {st['events_per_s']:,.0f} events/s, {st['cpu_us_per_event']:.0f} µs CPU per event."]
    return "\n".join(rows)


#: The batch workload in the tracker's shape (all events of a batch from one session), reported beside the bar's.
ONE_SESSION = "batch of 100, one session each"

#: Issue 4's bars: (label, measured value's name, comparison, bar).
TARGETS = (
    ("single events ≥ 0.50 of hello-world req/s (paired median)", "single", ">=", 0.50),
    ("p99 < 20 ms at half that load", "half_p99", "<", 20.0),
    ("100-event batches ≥ 50,000 events/s (median run)", "batch", ">=", 50_000.0),
    ("variant ≥ 0.80 of hello-world req/s (paired median)", "variant", ">=", 0.80),
)


def median_interval(values: Sequence[float], level: float = 0.90) -> tuple[float, float, float]:
    """A distribution-free confidence interval for the median of ``values``: ``(low, high, coverage)``.

    The order statistics ``x_(k)`` and ``x_(n-k+1)`` cover the median with probability
    ``1 - 2 P(B <= k - 1)``, ``B ~ Binomial(n, 1/2)`` (Conover, *Practical Nonparametric Statistics*, 3rd ed.,
    1999, §3.2); ``k`` is the largest whose coverage is at least ``level``, or 1 when none is (then the coverage
    returned is below ``level``: with 5 runs the best is ``[min, max]`` at 93.75 %). Assumes the runs are
    independent draws from one distribution -- the machine's state steady over the benchmark, which pairing each
    run with the hello-world run just before it helps with but does not guarantee.
    """
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("median_interval needs at least one value (got none)")

    def coverage(k: int) -> float:
        return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(k)) / 2.0**n

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= level:
        k += 1
    return xs[k - 1], xs[n - k], coverage(k)


def _verdicts(r: dict[str, dict[str, float]], paired: dict[str, list[float]],
              batch_runs: Sequence[float] = ()) -> list[str]:  # fmt: skip
    """One line per bar of the issue: the measured value, its median's interval, and the verdict.

    Ratios are paired medians (each run against the hello-world run just before it, which cancels the machine's
    drift between runs); batches the median run. A bar is *met* when the whole interval (:func:`median_interval`)
    is on its side, *NOT met* when the whole interval is on the other side, and *undecided* otherwise. The p99 at
    half load is one run, and so is any workload run once (``--repeat 1``): met or not; its line says the load it
    was measured at, as a fraction of the single-event rate.
    """
    samples = {"single": paired["single event"], "variant": paired["variant"], "batch": list(batch_runs)}
    values = {
        "single": paired["single event"][len(paired["single event"]) // 2],
        "half_p99": r["single event, half load"]["p99"],
        "batch": r["batch of 100"]["events_per_s"],
        "variant": paired["variant"][len(paired["variant"]) // 2],
    }
    load = r["single event, half load"]["rps"] / r["single event"]["rps"]  # the pacing's result, shown
    lines = []
    for label, key, op, bar in TARGETS:
        value = values[key]
        if len(samples.get(key, ())) >= 2:  # one run has no interval: the point verdict below
            low, high, cov = median_interval(samples[key])
            verdict = "met" if low >= bar else "NOT met" if high < bar else "undecided (its interval contains the bar)"
            lines.append(f"- {label}: {_show(value, key, bar)}, {cov:.2%} interval {_show(low, key, bar)} to "
                         f"{_show(high, key, bar)} -- {verdict}")  # fmt: skip
            continue
        met = value >= bar if op == ">=" else value < bar
        where = f" at {load:.2f} of the single-event rate" if key == "half_p99" else ""
        lines.append(f"- {label}: {_show(value, key, bar)}{where} -- {'met' if met else 'NOT met'}")
    return lines


def _cpu_us(run: dict[str, float]) -> float | None:
    """CPU µs per request of every process of a run (server, writer, PostgreSQL, ``wrk``); None if not measured."""
    keys = ("cpu_server_us", "cpu_writer_us", "cpu_database_us", "cpu_wrk_us")
    return sum(run.get(k, 0.0) for k in keys) if "cpu_server_us" in run else None


def cpu_budget(r: dict[str, dict[str, float]], cores: int | None = None) -> list[str]:
    """The bars read as CPU budgets, from the median runs' CPU per request of every process.

    Every process of a run -- gunicorn, the writer, PostgreSQL, ``wrk`` -- shares the machine's ``cores``, so a
    workload that keeps them busy runs at ``cores / CPU per request``, and its rate against the hello-world's is
    close to the inverse ratio of their CPU per request (the *CPU ratio*; the measured ratio is higher by the
    hello-world's idle share). A ratio bar ``b`` then asks for at most ``hello's CPU / b`` per request, and the
    batch rate cannot exceed ``cores / CPU per event``, however the work is scheduled. Assumes the CPU per request
    measured at the run's load is what it would be at full use of the cores.
    """
    cores = cores or os.cpu_count() or 1
    bars = {key: bar for _label, key, _op, bar in TARGETS}
    lines = []
    for name, base, bar in (("single event", "hello POST", bars["single"]), ("variant", "hello GET", bars["variant"])):
        own, hello = _cpu_us(r.get(name, {})), _cpu_us(r.get(base, {}))
        if own and hello:
            lines.append(f"- CPU budget, {name}: {own:,.0f} µs per request against {hello:,.0f} for the hello-world, "
                         f"CPU ratio {hello / own:.2f}; {bar:.2f} needs at most {hello / bar:,.0f} µs")  # fmt: skip
    batch = r.get("batch of 100", {})
    own = _cpu_us(batch)
    if own and batch.get("events_per_s"):
        per_event = own / 100
        used = batch["events_per_s"] * per_event / 1e6
        lines.append(f"- CPU budget, 100-event batches: {per_event:.1f} µs per event stored; {cores} fully busy cores "
                     f"would store at most {cores / per_event * 1e6:,.0f} events/s (the run used {used:.2f} cores)")  # fmt: skip
    return lines


def _show(x: float, key: str, bar: float) -> str:
    return f"{x:,.0f}" if bar > 100 else f"{x:.1f} ms" if key == "half_p99" else f"{x:.2f}"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one markdown table per backend."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run (default 8)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per workload, alternating with hello-world (5: the verdicts' intervals cover 93.75 %%)")
    parser.add_argument("--writer", default="process", choices=("process", "thread"), help="INGEST_WRITER")
    parser.add_argument("--backends", default="sqlite,postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite")
    args, _other = parser.parse_known_args(argv)  # `python -m bench --x` passes every module the same options
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    for backend in args.backends.split(","):
        result = run_backend(backend.strip(), args.duration, args.workers, args.threads, args.repeat, args.writer)
        print(_table(backend, result), flush=True)
        print()


if __name__ == "__main__":
    main()
