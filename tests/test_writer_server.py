"""The writer process' event loop (``ingest_service.writer_server``), served in a thread over a real Unix socket."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from ingest_service.writer import GroupWriter, Job
from ingest_service.writer_client import _receive
from ingest_service.writer_server import WriterServer, claim, frame


class Recorder:
    """A handler remembering each group's payloads; payload ``"bad"`` makes the database refuse the group."""

    def __init__(self) -> None:
        self.groups: list[list] = []

    def __call__(self, conn, payloads):
        if "bad" in payloads:
            raise ValueError("refused")
        self.groups.append(list(payloads))
        return [f"stored {p}" for p in payloads]


@pytest.fixture
def served(tmp_path):
    recorder = Recorder()
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    writer = GroupWriter(lambda: engine, {"n": recorder}, queue_events=10, group_max_events=4)
    path = tmp_path / "w.sock"
    server = WriterServer(writer, path, idle_exit=0.5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    yield server, recorder, path, thread
    engine.dispose()


def connect(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    s.settimeout(10)
    return s


def call(sock: socket.socket, message) -> tuple:
    sock.sendall(frame(message))
    return _receive(sock)


def test_submit_answers_after_the_commit(served):
    _, recorder, path, _ = served
    with connect(path) as s:
        assert call(s, ("submit", "n", "a", 1, True)) == ("ok", "stored a")
        assert call(s, ("status",)) == ("status", 1, False, None)
    assert recorder.groups == [["a"]]


def one_round(server: WriterServer, *messages) -> list:
    """Everything sent before the writer looks: one round, driven directly (deterministic grouping)."""
    from ingest_service.writer_server import _Peer

    client, mine = socket.socketpair()
    with client, mine:
        mine.setblocking(False)
        client.sendall(b"".join(frame(m) for m in messages))
        server.round(None, [_Peer(mine)])
        client.settimeout(5)
        answers = []
        client.setblocking(False)
        try:
            while True:
                answers.append(_receive_one(client))
        except BlockingIOError:
            pass
        return answers


def test_messages_arriving_together_form_one_group_split_at_group_max(served):
    server, recorder, _, _ = served
    # six jobs of 1 event arriving together: one round, written as groups of at most 4 events
    answers = one_round(server, *[("submit", "n", f"j{i}", 1, True) for i in range(6)])
    assert answers == [("ok", f"stored j{i}") for i in range(6)]
    assert recorder.groups == [["j0", "j1", "j2", "j3"], ["j4", "j5"]]


def _receive_one(sock: socket.socket):
    import pickle

    (n,) = struct.unpack("!I", _exactly(sock, 4))
    return pickle.loads(_exactly(sock, n))


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = sock.recv(n)
    if not data:
        raise BlockingIOError
    while len(data) < n:
        data += sock.recv(n - len(data))
    return data


def test_queue_bound_refuses_beyond_queue_events(served):
    server, recorder, _, _ = served
    answers = one_round(server, ("submit", "n", "big", 8, True), ("submit", "n", "more", 3, True), ("status",))
    assert answers == [("ok", "stored big"), ("error", "queue_full", "8 events are waiting to be written (limit 10)"),
                       ("status", 8, False, None)]  # fmt: skip
    assert recorder.groups == [["big"]]


def test_unwaited_jobs_are_not_refused_by_the_queue_bound(served):
    # a worker's exposure flush has nobody to hear "queue full": refusing it silently lost its rows for good
    server, recorder, _, _ = served
    answers = one_round(server, ("submit", "n", "big", 8, True), ("submit", "n", "quiet", 5, False), ("status",))
    assert answers == [("ok", "stored big"), ("status", 13, False, None)]
    assert recorder.groups == [["big"], ["quiet"]]


class Unreachable(Recorder):
    """A handler whose database cannot be reached while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def __call__(self, conn, payloads):
        if self.down:
            raise OperationalError("INSERT", {}, Exception("could not connect to server"))
        return super().__call__(conn, payloads)


def test_unwaited_jobs_are_written_again_after_a_database_outage(tmp_path):
    handler = Unreachable()
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    writer = GroupWriter(lambda: engine, {"n": handler}, db_backoff=0.3, group_max_events=4)
    path = tmp_path / "w.sock"
    threading.Thread(target=WriterServer(writer, path, idle_exit=30).serve_forever, daemon=True).start()
    deadline = time.monotonic() + 5
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    with connect(path) as s:
        s.sendall(frame(("submit", "n", "quiet", 1, False)))
        # the waited job is answered (503 at the worker) and not kept: its client retries
        answer = call(s, ("submit", "n", "loud", 1, True))
        assert answer == ("error", "database_unavailable", "could not connect to server")
        assert writer.retry_pending == 1
        handler.down = False
        deadline = time.monotonic() + 5  # no new traffic: the writer's idle loop writes it once the backoff is over
        while not handler.groups and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.6)  # one more idle round: written once
        assert handler.groups == [["quiet"]]
        assert writer.retry_pending == 0
    engine.dispose()


def test_kept_unwaited_jobs_are_bounded(tmp_path):
    handler = Unreachable()
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    writer = GroupWriter(lambda: engine, {"n": handler}, db_backoff=30, retry_events=3)
    jobs = [Job("n", "a", 2, False, notify=False), Job("n", "b", 2, False, notify=False),
            Job("n", "c", 1, False, notify=False), Job("n", "d", 1, True, notify=False)]  # fmt: skip
    writer.write_now(jobs)
    assert [(j.payload, str(j.error) if j.error else None) for j in jobs] == [
        ("a", None), ("b", "could not connect to server"), ("c", None), ("d", "could not connect to server")]
    assert (writer.retry_pending, writer.dropped_events) == (3, 2)  # "b" did not fit; "d" was waited for
    assert writer.take_retries() == []  # backing off
    writer._down_until = 0.0
    assert [j.payload for j in writer.take_retries()] == ["a", "c"]
    assert writer.retry_pending == 0
    engine.dispose()


def test_refused_job_is_isolated_and_named(served):
    server, recorder, _, _ = served
    answers = one_round(server, ("submit", "n", "good", 1, True), ("submit", "n", "bad", 1, True))
    assert answers == [("ok", "stored good"), ("error", "unstorable", "refused")]
    assert recorder.groups == [["good"]]


def test_nowait_job_has_no_answer_and_unknown_message_is_named(served):
    _, recorder, path, _ = served
    with connect(path) as s:
        s.sendall(frame(("submit", "n", "quiet", 1, False)))
        assert call(s, ("hello",)) == ("error", "bad_message", "unknown message 'hello' (expected submit or status)")
        assert call(s, ("submit", "n", "loud", 1, True)) == ("ok", "stored loud")
    assert recorder.groups in ([["quiet"], ["loud"]], [["quiet", "loud"]])


def test_garbled_frame_closes_only_that_connection(served):
    _, recorder, path, _ = served
    with connect(path) as bad, connect(path) as good:
        bad.sendall(struct.pack("!I", 3) + b"xyz")
        assert bad.recv(10) == b""  # closed by the writer
        assert call(good, ("submit", "n", "fine", 1, True)) == ("ok", "stored fine")


def test_exits_when_idle_and_removes_its_socket(served):
    _, _, path, thread = served
    with connect(path) as s:
        assert call(s, ("status",))[0] == "status"
    thread.join(10)
    assert not thread.is_alive()
    assert not path.exists()


def test_claim_is_exclusive(tmp_path):
    first = claim(tmp_path / "x.sock")
    assert first is not None
    assert claim(tmp_path / "x.sock") is None
    first.close()
    assert claim(tmp_path / "x.sock") is not None


def test_the_writers_handlers_do_not_import_the_statistics(tmp_path):
    """Importing analytics.experiments (scipy, statsmodels) inside the writer took 6 s under load, and no event was
    written meanwhile: events and exposures must be stored with the storage code alone."""
    import subprocess
    import sys
    from pathlib import Path

    script = f"""
import sys
from datetime import datetime
from analytics.db import get_engine, upgrade
from analytics.events import validate_event
from analytics.storage import prepare_events
from ingest_service.config import Config
from ingest_service.writer import Job
from ingest_service.writer_server import build_writer
url = "sqlite:///{tmp_path / 'h.db'}"
upgrade(url)
writer = build_writer(Config(database_url=url))
now = datetime(2026, 11, 25, 12)
event = validate_event({{"event_type": "ai_calculator_opened", "session_id": "s", "event_id": "e1"}}, now=now)
event.received_at = now
jobs = [Job("events", tuple(prepare_events([event], "sqlite")), 1, True),
        Job("exposures", [("t", "u1", "control", 0, 0.25, now)], 1, False)]
writer.write_now(jobs)
assert [j.error for j in jobs] == [None, None], jobs
with get_engine(url).connect() as conn:
    print(conn.exec_driver_sql("SELECT count(*) FROM analytics_events").scalar(),
          conn.exec_driver_sql("SELECT count(*) FROM ab_assignments").scalar())
print(sorted(m for m in ("scipy", "statsmodels", "analytics.experiments") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["1 1", "[]"]


def test_a_socket_path_that_exists_accepts_connections(tmp_path):
    # the socket is bound and listening under a temporary name before it is renamed into place: connecting as
    # soon as the path appears never meets "connection refused" (it did, now and then, between bind and listen)
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    for i in range(20):
        path = tmp_path / f"r{i}.sock"
        server = WriterServer(GroupWriter(lambda: engine, {"n": Recorder()}), path, idle_exit=0.2)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        deadline = time.monotonic() + 5
        while not path.exists() and time.monotonic() < deadline:
            pass  # no sleep: look as early as possible
        with connect(path) as s:
            assert call(s, ("status",))[0] == "status"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".s")] == []  # no staging names left
    engine.dispose()
