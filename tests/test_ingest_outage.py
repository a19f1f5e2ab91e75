"""503 with Retry-After when the database is unavailable or the writer's queue is full, and recovery by itself."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
import time
import uuid

import pytest
from dbutil import TEST_DATABASE_URL, make_database
from sqlalchemy import make_url, select, text

from analytics.db import _build_engine, upgrade
from analytics.experiments import Variant, create_test, start_test
from analytics.schema import ab_assignments, analytics_events
from ingest_service.testing import Server, free_port

EVENT = "/api/analytics/event"


def opened(event_id: str) -> dict:
    return {"event_type": "ai_calculator_opened", "session_id": "s", "event_id": event_id}


def stored_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(analytics_events.c.event_id)).scalars())


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class TcpProxy:
    """A loopback TCP forwarder that can be cut (database "down") and restored on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept() (close alone would leave the socket listening)
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._conns.clear()


def check_down(srv: Server, event_id: str) -> None:
    r = srv.request("POST", EVENT, opened(event_id))
    assert r.status == 503, r
    assert r.json()["code"] == "database_unavailable"
    assert int(r.headers["retry-after"]) == 2
    assert r.json()["description"].startswith("nothing was stored; retry later (")
    ready = srv.request("GET", "/api/analytics/ready")
    assert ready.status == 503 and ready.json()["ready"] is False
    assert ready.json()["reasons"][0].startswith("database unavailable: ")
    head = srv.request("HEAD", "/api/analytics/ready")
    assert (head.status, head.body, head.headers["retry-after"]) == (503, b"", "2")


@pytest.mark.slow
@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")
def test_postgres_down_then_recovers(tmp_path):
    url, cleanup = make_database("postgresql", tmp_path)
    engine = _build_engine(url)
    upgrade(engine)
    real = make_url(url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.start()
    proxied = real.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        create_test(engine, name="t", test_type="custom", test_id="t1", variants=[Variant("a", 0.5), Variant("b", 0.5)])
        start_test(engine, "t1")
        variant = "/api/analytics/ab-testing/t1/variant?session_id="
        with Server(proxied, {"INGEST_DB_BACKOFF": "3", "INGEST_RATE_LIMIT": "0"}) as srv:
            assert srv.request("POST", EVENT, opened("pg-before")).status == 200
            assert srv.request("GET", variant + "before").json()["reason"] == "assigned"  # the test's config cached
            proxy.stop()  # the database "goes away": open connections cut, new ones refused
            check_down(srv, "pg-during")
            assert srv.request("GET", variant + "during").json()["reason"] == "assigned"  # from the cached config
            health = srv.request("GET", "/api/analytics/health")
            assert (health.status, health.json()["status"]) == (503, "unhealthy")
            time.sleep(1.5)  # the worker's 1-s exposure flush reaches the writer while the database is away
            proxy.start()
            assert wait_for(lambda: srv.request("POST", EVENT, opened("pg-after")).status == 200)
            assert srv.request("GET", "/api/analytics/health").status == 200
            assert srv.request("GET", "/api/analytics/ready").status == 200
            assert wait_for(lambda: recorded_units_in(engine) == ["before", "during"])  # kept, written after
        assert stored_ids(engine) == ["pg-after", "pg-before"]
    finally:
        proxy.stop()
        engine.dispose()
        cleanup()


def test_postgres_closed_port_is_503():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    with Server(url, {"INGEST_RATE_LIMIT": "0"}) as srv:
        check_down(srv, "closed-1")
        assert srv.request("GET", "/api/analytics/health").status == 503
        # the variant endpoint still answers the control instead of an error
        r = srv.request("GET", "/api/analytics/ab-testing/t1/variant?user_id=u1")
        assert (r.status, r.json()["variant"], r.json()["reason"]) == (200, "control", "config_unavailable")
    # the writer process masks its log lines as the workers do (docs/privacy.md): no address in its error
    down = [line for line in srv.log().splitlines() if "database unavailable, backing off" in line]
    assert down and all("[ip]" in line and "127.0.0.1" not in line for line in down), down


@pytest.mark.slow
def test_sqlite_locked_then_recovers(tmp_path):
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    engine = _build_engine(url)
    upgrade(engine)
    env = {"INGEST_WRITE_TIMEOUT": "0.5", "INGEST_DB_BACKOFF": "3", "INGEST_RATE_LIMIT": "0"}
    with Server(url, env) as srv:
        assert srv.request("POST", EVENT, opened("lite-before")).status == 200
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock: the writer cannot commit
        try:
            check_down(srv, "lite-during")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert wait_for(lambda: srv.request("POST", EVENT, opened("lite-after")).status == 200)
    assert stored_ids(engine) == ["lite-after", "lite-before"]
    engine.dispose()


def recorded_units_in(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(ab_assignments.c.unit_id)).scalars())


def recorded_units(path) -> list[str]:
    with sqlite3.connect(path) as conn:  # WAL: readable while another connection holds the write lock
        return sorted(u for (u,) in conn.execute("SELECT unit_id FROM ab_assignments"))


@pytest.mark.slow
def test_first_exposures_are_written_after_a_locked_database_frees(tmp_path):
    """A worker's exposure flush that reaches the writer while the database cannot commit is kept by the writer
    and written after the backoff; the worker counts its units as recorded and would never send them again."""
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    engine = _build_engine(url)
    upgrade(engine)
    create_test(engine, name="t", test_type="custom", test_id="t1", variants=[Variant("a", 0.5), Variant("b", 0.5)])
    start_test(engine, "t1")
    env = {"INGEST_WRITE_TIMEOUT": "0.5", "INGEST_DB_BACKOFF": "1", "INGEST_RATE_LIMIT": "0"}
    variant = "/api/analytics/ab-testing/t1/variant?session_id="
    with Server(url, env) as srv:
        assert srv.request("GET", variant + "before").json()["reason"] == "assigned"
        assert wait_for(lambda: recorded_units(path) == ["before"])
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            assert srv.request("GET", variant + "during").json()["reason"] == "assigned"
            time.sleep(2.5)  # the worker's 1-s flush reaches the writer, which gives up after 0.5 s
            assert recorded_units(path) == ["before"]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert wait_for(lambda: recorded_units(path) == ["before", "during"], timeout=10)
    engine.dispose()


def test_queue_full_is_503(tmp_path):
    url, _ = make_database("sqlite", tmp_path)
    engine = _build_engine(url)
    upgrade(engine)
    with Server(url, {"INGEST_QUEUE_EVENTS": "5", "INGEST_RATE_LIMIT": "0"}) as srv:
        r = srv.request("POST", EVENT, {"batch": [opened(f"q{i}") for i in range(6)]})
        assert (r.status, r.json()["code"], r.headers["retry-after"]) == (503, "queue_full", "2")
        assert r.json()["description"] == (
            "nothing was stored; retry later (0 events are waiting to be written (limit 5))")
        assert srv.request("POST", EVENT, {"batch": [opened(f"q{i}") for i in range(5)]}).status == 200
    assert len(stored_ids(engine)) == 5
    engine.dispose()


@pytest.mark.slow
@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")
def test_a_frozen_postgres_backend_is_abandoned_and_the_writer_carries_on(tmp_path):
    """The writer's backend stops answering without closing (a frozen VM or process, a path that drops packets):
    the writer used to wait in its call for good, every request answering 503 until the backend ran again."""
    url, cleanup = make_database("postgresql", tmp_path)
    engine = _build_engine(url)
    upgrade(engine)
    name = f"freeze-{uuid.uuid4().hex[:8]}"
    tagged = make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
    stopped: list[int] = []
    try:
        env = {"INGEST_WRITE_TIMEOUT": "2", "INGEST_DB_BACKOFF": "0.5", "INGEST_RATE_LIMIT": "0"}
        with Server(tagged, env) as srv:
            assert srv.request("POST", EVENT, opened("frozen-before")).status == 200
            with engine.connect() as conn:  # the writer's connection: its last statement was the group's COMMIT
                pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :n "
                                         "AND query = 'COMMIT'"), {"n": name}).scalars().all()  # fmt: skip
            assert len(pids) == 1
            os.kill(pids[0], signal.SIGSTOP)
            stopped.append(pids[0])
            started = time.monotonic()
            r = srv.request("POST", EVENT, opened("frozen-during"))
            assert (r.status, r.json()["code"]) == (503, "database_unavailable")
            assert r.json()["description"].endswith(
                "(the database did not answer within 3 s; its connection was abandoned)")
            assert time.monotonic() - started < 4.5  # write_timeout 2 s + the 1-s margin, before the reply timeout
            # the old backend is still stopped: the next groups run on a new connection
            assert wait_for(lambda: srv.request("POST", EVENT, opened("frozen-after")).status == 200, timeout=10)
        assert stored_ids(engine) == ["frozen-after", "frozen-before"]
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        engine.dispose()
        cleanup()


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (needs the privilege to mount: root, as in CI), grown with ``remount`` by the test."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mnt, lambda size: subprocess.run(["mount", "-o", f"remount,size={size}", str(mnt)], check=True)
    subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.slow
def test_a_full_disk_is_503_loses_nothing_acknowledged_and_recovers(small_disk, tmp_path):
    mnt, resize = small_disk
    url = f"sqlite:///{mnt / 'full.db'}"
    engine = _build_engine(url)
    upgrade(engine)
    acked: list[str] = []
    try:
        with Server(url, {"INGEST_RATE_LIMIT": "0", "INGEST_RUNTIME_DIR": str(tmp_path / "run")}) as srv:
            for b in range(200):
                batch = [{**opened(f"full-{b}-{i}"), "event_data": {"referrer": "x" * 400}} for i in range(50)]
                r = srv.request("POST", EVENT, {"batch": batch})
                if r.status != 200:
                    break
                acked += [e["event_id"] for e in batch]
            assert (r.status, r.json()["code"], r.headers["retry-after"]) == (503, "database_unavailable", "2")
            assert "database or disk is full" in r.json()["description"]
            assert acked and srv.request("GET", "/api/analytics/ready").status == 503
            resize("8m")  # space again
            assert wait_for(lambda: srv.request("POST", EVENT, opened("full-after")).status == 200, timeout=10)
        assert set(stored_ids(engine)) == {*acked, "full-after"}  # every acknowledged event, nothing half written
    finally:
        engine.dispose()
