"""kill -9 of gunicorn (master and workers) in the middle of a load: every event whose request got a 2xx is in the
database, none twice; re-sending everything afterwards (what clients do) stores the rest exactly once."""

from __future__ import annotations

import http.client
import threading
import time

import pytest
from dbutil import BACKENDS, make_database
from sqlalchemy import func, select

from analytics.db import _build_engine, upgrade
from analytics.schema import analytics_events, event_keys
from ingest_service.testing import Server

EVENT = "/api/analytics/event"
CLIENTS = 8


def _payload(client: int, n: int) -> tuple[list[str], dict]:
    """Alternate single events and batches of 20, with unique event ids."""
    size = 1 if n % 2 == 0 else 20
    ids = [f"c{client}-r{n}-e{i}" for i in range(size)]
    events = [{"event_type": "calculator_step_completed", "session_id": f"s{client}", "event_id": e,
               "event_data": {"step": 1 + i % 5, "seconds_on_step": 1.5}} for i, e in enumerate(ids)]
    return ids, (events[0] if size == 1 else {"batch": events})


def _load(srv: Server, client: int, acked: list[str], sent: list[tuple[list[str], dict]], stop: threading.Event):
    n = 0
    while not stop.is_set():
        ids, body = _payload(client, n)
        sent.append((ids, body))
        try:
            r = srv.request("POST", EVENT, body, timeout=10)
        except (OSError, http.client.HTTPException):
            return  # the server is gone (refused, reset, or cut mid-response)
        if 200 <= r.status < 300:
            acked.extend(ids)
        n += 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_mid_load_loses_no_acknowledged_event(backend, tmp_path):
    url, cleanup = make_database(backend, tmp_path)
    engine = _build_engine(url)
    upgrade(engine)
    acked: list[str] = []
    sent: list[tuple[list[str], dict]] = []
    stop = threading.Event()
    srv = Server(url, {"INGEST_RATE_LIMIT": "0"}, workers=2, threads=8).start()
    try:
        threads = [threading.Thread(target=_load, args=(srv, c, acked, sent, stop)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        srv.kill()
        stop.set()
        for t in threads:
            t.join(15)
        assert len(acked) > 100, "the load did not run"
        with engine.connect() as conn:
            ids = list(conn.execute(select(analytics_events.c.event_id)).scalars())
        assert len(ids) == len(set(ids)), "an event was stored twice"
        missing = set(acked) - set(ids)
        assert not missing, f"{len(missing)} acknowledged events are not stored, e.g. {sorted(missing)[:3]}"
        # clients re-send what was not acknowledged (here: everything); dedup keeps one copy of each
        with Server(url, {"INGEST_RATE_LIMIT": "0"}) as again:
            for _ids, body in sent:
                assert again.request("POST", EVENT, body).status == 200
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(analytics_events)).scalar_one()
            distinct = conn.execute(select(func.count(analytics_events.c.event_id.distinct()))).scalar_one()
            keys = conn.execute(select(func.count()).select_from(event_keys)).scalar_one()
        expected = len({e for ids_, _ in sent for e in ids_})
        assert total == distinct == keys == expected
    finally:
        stop.set()
        srv.kill()
        engine.dispose()
        cleanup()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_writer_process_killed_repeatedly_loses_no_acknowledged_event(backend, tmp_path):
    """kill -9 of the writer process alone, three times under load: the requests it held get 503 (their fate
    unknown), the next ones start a new writer, and every acknowledged event is stored once."""
    import os
    import signal
    import subprocess

    url, cleanup = make_database(backend, tmp_path)
    engine = _build_engine(url)
    upgrade(engine)
    run = tmp_path / "run"
    acked: list[str] = []
    sent: list[tuple[list[str], dict]] = []
    stop = threading.Event()
    srv = Server(url, {"INGEST_RATE_LIMIT": "0", "INGEST_RUNTIME_DIR": str(run)}, workers=2, threads=8).start()
    try:
        threads = [threading.Thread(target=_load, args=(srv, c, acked, sent, stop)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        killed = []
        for _ in range(3):
            time.sleep(1.5)
            out = subprocess.run(["pgrep", "-f", f"writer_server.py --socket {run}"], capture_output=True, text=True)
            for pid in map(int, out.stdout.split()):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        before = len(acked)
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(15)
        assert len(set(killed)) >= 3, killed
        assert len(acked) > before, "no event was acknowledged after the last kill: the service did not recover"
        with engine.connect() as conn:
            ids = list(conn.execute(select(analytics_events.c.event_id)).scalars())
        assert len(ids) == len(set(ids)), "an event was stored twice"
        missing = set(acked) - set(ids)
        assert not missing, f"{len(missing)} acknowledged events are not stored, e.g. {sorted(missing)[:3]}"
    finally:
        stop.set()
        srv.kill()
        engine.dispose()
        cleanup()
