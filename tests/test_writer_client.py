"""The workers' side of the writer process: it starts the process, stores through it, survives losing it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from analytics.db import _build_engine, upgrade
from analytics.errors import ConfigError
from analytics.events import validate_event
from analytics.schema import analytics_events
from analytics.storage import prepare_events
from ingest_service.config import Config
from ingest_service.writer import DatabaseUnavailable, GroupWriter
from ingest_service.writer_client import RemoteWriter, make_writer, socket_path


def _events(*ids: str):
    return [validate_event({"event_type": "ai_calculator_opened", "session_id": "s1", "event_id": i}) for i in ids]


def _writer_pid(path) -> int:
    out = subprocess.run(["pgrep", "-f", f"writer_server.py --socket {path}"], capture_output=True, text=True).stdout
    pids = [int(p) for p in out.split()]
    assert len(pids) == 1, pids
    return pids[0]


@pytest.fixture
def remote(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_RUNTIME_DIR", str(tmp_path / "run"))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = _build_engine(url)
    upgrade(engine)
    writer = RemoteWriter(Config(database_url=url), lambda: engine, idle_exit=1.0)
    yield writer, engine
    try:
        os.kill(_writer_pid(writer.path), signal.SIGKILL)
    except (AssertionError, ProcessLookupError):
        pass
    engine.dispose()


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(analytics_events)).scalar_one()


def test_starts_the_writer_and_stores_through_it(remote):
    writer, engine = remote
    events = _events("a", "b", "a")
    assert writer.submit("events", prepare_events(events, "sqlite"), 3) == (0, 1)  # the repeat of "a" is not new
    assert writer.submit("events", prepare_events(_events("b", "c"), "sqlite"), 2) == (1,)
    assert _count(engine) == 3
    assert writer.status() == (2, False, None)  # 2 events were waiting when the last group was formed


def test_a_lost_writer_is_replaced_before_the_next_job_is_sent(remote):
    writer, engine = remote
    assert writer.submit("events", prepare_events(_events("x1"), "sqlite"), 1) == (0,)
    old = _writer_pid(writer.path)
    os.kill(old, signal.SIGKILL)
    time.sleep(0.2)
    # this thread's connection died with the writer: the send fails at once, nothing reached a writer, so the job
    # goes to a new one instead of the request getting 503 (every thread's first request did before)
    assert writer.submit("events", prepare_events(_events("x2"), "sqlite"), 1) == (0,)
    assert _writer_pid(writer.path) != old
    assert writer.submit_nowait("exposures", [("t", "u1", "control", 0, 0.25, datetime(2026, 11, 25, 12))], 1)
    os.kill(_writer_pid(writer.path), signal.SIGKILL)
    time.sleep(0.2)
    assert writer.submit_nowait("exposures", [("t", "u2", "control", 0, 0.25, datetime(2026, 11, 25, 12))], 1)
    assert writer.submit("events", prepare_events(_events("x3"), "sqlite"), 1) == (0,)
    assert _count(engine) == 3


def test_a_writer_lost_while_a_job_waits_answers_unavailable(remote, monkeypatch):
    """A job that may have reached a writer is not sent again: its request gets 503 (its retry is deduplicated)."""
    writer, engine = remote
    assert writer.submit("events", prepare_events(_events("y1"), "sqlite"), 1) == (0,)
    pid = _writer_pid(writer.path)
    sent = []

    def killed_while_waiting(sock):  # the job was sent; the writer dies before it answers
        sent.append(sock)
        os.kill(pid, signal.SIGKILL)
        raise EOFError("connection closed")

    monkeypatch.setattr("ingest_service.writer_client._receive", killed_while_waiting)
    with pytest.raises(DatabaseUnavailable) as err:
        writer.submit("events", prepare_events(_events("y2"), "sqlite"), 1)
    assert str(err.value) == "the writer process went away (connection closed)"
    assert len(sent) == 1  # sent once, not again


def test_nowait_exposures_are_written(remote):
    writer, engine = remote
    rows = [("t", "u1", "control", 0, 0.25, datetime(2026, 11, 25, 12))]  # EXPOSURE_COLUMNS order
    assert writer.submit_nowait("exposures", rows, 1)
    writer.submit("exposures", [], 0)  # same connection, answered in order: after the exposure's group
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT unit_id, variant FROM ab_assignments").all() == [("u1", "control")]


def test_socket_directory_must_be_private(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(PermissionError) as err:
        socket_path(Config(database_url="sqlite:///x.db"), str(shared))
    assert str(err.value) == (f"the writer's runtime directory {shared} must belong to uid {os.getuid()} with mode "
                              f"0700 (got uid {os.getuid()}, mode 0755)")  # fmt: skip


def test_socket_path_must_fit_a_unix_socket_address(tmp_path, monkeypatch):
    import socket

    root = tmp_path / "r"
    fits = root / ("d" * (74 - len(str(root)) - 1))  # 74 bytes: the longest directory that leaves room
    path = socket_path(Config(database_url="sqlite:///x.db"), str(fits))
    assert len(str(path)) == 107
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # the kernel takes it
    too_long = str(fits) + "d"
    with pytest.raises(ConfigError) as err:
        socket_path(Config(database_url="sqlite:///x.db"), too_long)
    assert str(err.value) == (
        "the writer's runtime directory must be at most 74 bytes long: a Unix socket's path is limited to 107 "
        f"bytes; set INGEST_RUNTIME_DIR to a shorter directory, e.g. /tmp/aci (got {too_long!r}, 75 bytes)")
    # the default: a temporary directory too long for the name (macOS' /var/folders/.../T/) falls back to /tmp
    monkeypatch.delenv("INGEST_RUNTIME_DIR", raising=False)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path / ("t" * 60)))
    assert socket_path(Config(database_url="sqlite:///x.db")).parent == Path(f"/tmp/ai-calculator-ingest-{os.getuid()}")


def test_a_relative_runtime_directory_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the writer process runs in the project directory: a relative path would differ
    path = socket_path(Config(database_url="sqlite:///x.db"), "run")
    assert path.is_absolute() and path.parent == tmp_path / "run"


def test_a_failed_connect_is_unavailable_not_an_error(tmp_path, monkeypatch):
    import errno

    monkeypatch.setenv("INGEST_RUNTIME_DIR", str(tmp_path / "run"))
    writer = RemoteWriter(Config(database_url=f"sqlite:///{tmp_path / 'x.db'}"), None)

    def no_descriptors(*_a, **_k):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(writer, "_connect", no_descriptors)
    with pytest.raises(DatabaseUnavailable) as err:
        writer.submit("events", ("sqlite", (), (), (), ()), 0)
    assert str(err.value) == "cannot connect to the writer process ([Errno 24] Too many open files)"
    assert writer.status() == (0, True, "cannot connect to the writer process ([Errno 24] Too many open files)")


def test_socket_depends_on_database_and_writer_settings(tmp_path):
    a = socket_path(Config(database_url="sqlite:///a.db"), str(tmp_path))
    assert a == socket_path(Config(database_url="sqlite:///a.db"), str(tmp_path))
    assert a != socket_path(Config(database_url="sqlite:///b.db"), str(tmp_path))
    assert a != socket_path(Config(database_url="sqlite:///a.db", queue_events=5), str(tmp_path))
    assert a != socket_path(Config(database_url="sqlite:///a.db", wal_autocheckpoint=500), str(tmp_path))
    assert a != socket_path(Config(database_url="sqlite:///a.db", sqlite_cache_mb=16), str(tmp_path))


def test_after_stop_spawning_a_missing_writer_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_RUNTIME_DIR", str(tmp_path / "run"))
    writer = RemoteWriter(Config(database_url=f"sqlite:///{tmp_path / 'gone.db'}"), None)
    writer.stop_spawning()
    started = time.monotonic()
    assert writer.submit_nowait("exposures", [], 0) is False
    with pytest.raises(DatabaseUnavailable) as err:
        writer.submit("events", ("sqlite", (), (), (), ()), 0)
    assert str(err.value) == "no writer process is running (not starting one: shutting down)"
    assert time.monotonic() - started < 1.0
    assert writer._child is None  # nothing was started


def test_writer_mode_setting(tmp_path):
    assert isinstance(make_writer(Config(database_url=f"sqlite:///{tmp_path}/t.db", writer="thread"), None),
                      GroupWriter)  # fmt: skip
    with pytest.raises(ConfigError) as err:
        Config.from_env({"INGEST_WRITER": "fork"})
    assert str(err.value) == "INGEST_WRITER must be one of process, thread (got 'fork')"


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_both_writer_modes_over_http(tmp_path, monkeypatch, mode):
    from ingest_service.testing import Server

    monkeypatch.setenv("INGEST_RUNTIME_DIR", str(tmp_path / "run"))
    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = _build_engine(url)
    upgrade(engine)
    with Server(url, {"INGEST_WRITER": mode, "INGEST_RATE_LIMIT": "0"}) as srv:
        body = {"batch": [{"event_type": "ai_calculator_opened", "session_id": "s", "event_id": f"m{i % 3}"}
                          for i in range(4)]}  # fmt: skip
        r = srv.request("POST", "/api/analytics/event", body)
        assert (r.status, r.json()) == (200, {"accepted": 3, "duplicates": 1, "rejected": []})
        ready = srv.request("GET", "/api/analytics/ready").json()
        assert (ready["ready"], ready["reasons"]) == (True, [])
    assert _count(engine) == 3
    engine.dispose()


def test_a_writer_that_does_not_answer_times_out(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("INGEST_RUNTIME_DIR", str(tmp_path / "run"))
    writer = RemoteWriter(Config(database_url=f"sqlite:///{tmp_path / 'n.db'}", write_timeout=0.1), None)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # accepts (the kernel's backlog), never answers
    silent.bind(str(writer.path))
    silent.listen(8)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as err:
            writer.submit("events", ("sqlite", (), (), (), ()), 0)
        assert str(err.value) == "the commit did not finish within 3.1 s"
        assert 3.0 <= time.monotonic() - started < 6.0
        assert getattr(writer._local, "conn", None) is None  # dropped: a late answer cannot be taken for the next
    finally:
        silent.close()


def test_status_of_a_busy_writer_is_quick_and_says_so(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("INGEST_RUNTIME_DIR", str(tmp_path / "run"))
    writer = RemoteWriter(Config(database_url=f"sqlite:///{tmp_path / 'b.db'}"), None)
    busy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # accepts, never answers: a writer inside a commit
    busy.bind(str(writer.path))
    busy.listen(8)
    try:
        started = time.monotonic()
        assert writer.status() == (0, True, "the writer process did not answer within 1 s (busy committing)")
        assert time.monotonic() - started < 3
    finally:
        busy.close()


def test_status_when_no_writer_can_start_answers_within_seconds(tmp_path, monkeypatch):
    from ingest_service.writer_server import claim

    monkeypatch.setenv("INGEST_RUNTIME_DIR", str(tmp_path / "run"))
    writer = RemoteWriter(Config(database_url=f"sqlite:///{tmp_path / 'c.db'}"), None)
    held = claim(writer.path)  # a writer that holds the start lock but never listens: every new one exits at once
    try:
        started = time.monotonic()
        assert writer.status() == (0, True, "the writer process did not start within 3 s")
        assert time.monotonic() - started < 6
    finally:
        held.close()


def test_writer_env_passes_the_checkpoint_interval_only_when_set(monkeypatch):
    from ingest_service.writer_client import _writer_env

    monkeypatch.setenv("INGEST_WAL_AUTOCHECKPOINT", "777")  # the worker's own environment must not leak through
    assert "INGEST_WAL_AUTOCHECKPOINT" not in _writer_env(Config(database_url="sqlite:///a.db"))
    env = _writer_env(Config(database_url="sqlite:///a.db", wal_autocheckpoint=500))
    assert env["INGEST_WAL_AUTOCHECKPOINT"] == "500"


def test_code_version_digests_the_python_files_of_the_three_packages(tmp_path):
    from ingest_service.writer_client import code_version

    for name in ("analytics", "ingest_service", "migrations", "tests"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m.py").write_text("x = 1\n")
    first = code_version(tmp_path)
    (tmp_path / "tests" / "m.py").write_text("x = 2\n")  # not part of what a writer runs
    (tmp_path / "analytics" / "notes.md").write_text("docs\n")
    assert code_version.__wrapped__(tmp_path) == first
    (tmp_path / "ingest_service" / "m.py").write_text("x = 2\n")
    second = code_version.__wrapped__(tmp_path)
    (tmp_path / "migrations" / "n.py").write_text("")
    assert len({first, second, code_version.__wrapped__(tmp_path)}) == 3


def test_a_new_release_does_not_reuse_the_old_releases_writer(tmp_path):
    """Two copies of the code, one file different, on one database and runtime directory: two writer processes
    (before, the second server's workers were served by the first one's writer, running the old code)."""
    import shutil
    import sys

    from ingest_service.testing import ROOT, free_port, request

    release = tmp_path / "release-2"
    for name in ("analytics", "ingest_service", "migrations"):
        shutil.copytree(ROOT / name, release / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "alembic.ini", release / "alembic.ini")
    with open(release / "ingest_service" / "store.py", "a") as f:
        f.write("# release 2\n")
    url = f"sqlite:///{tmp_path / 'two.db'}"
    engine = _build_engine(url)
    upgrade(engine)
    run = tmp_path / "run"
    servers = []
    try:
        for n, root in enumerate((ROOT, release)):
            port = free_port()
            env = {**os.environ, "DATABASE_URL": url, "INGEST_MIGRATE": "0", "PYTHONPATH": str(root),
                   "INGEST_RUNTIME_DIR": str(run)}  # fmt: skip
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--no-control-socket", "-b", f"127.0.0.1:{port}",
                 "ingest_service.app:app"],
                cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            ))  # fmt: skip
            event = {"event_type": "ai_calculator_opened", "session_id": "s1", "event_id": f"release-{n}"}
            deadline = time.monotonic() + 60
            while True:
                try:
                    assert request(port, "POST", "/api/analytics/event", event, timeout=30).status == 200
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
        sockets = sorted(p.name for p in run.glob("writer-*.sock"))
        assert len(sockets) == 2
        for name in sockets:
            _writer_pid(run / name)  # exactly one writer process serves each
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(analytics_events)).scalar_one() == 2
    finally:
        for proc in servers:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        engine.dispose()
