"""The writer process: one :class:`~ingest_service.writer.GroupWriter` serving every worker of a machine.

``python ingest_service/writer_server.py --socket PATH`` (started by the workers themselves, see
:mod:`ingest_service.writer_client`; settings from the same environment variables as the sidecar).

Why a process of its own. A group commit inside each gunicorn worker shares that worker's GIL with the threads
parsing HTTP: every time the writer thread gives the GIL up for a system call (the ``flock``, each SQLite step, the
``fsync``) it waits to get it back behind request threads, and on SQLite the other worker's writer waits for the
database lock meanwhile. Measured here (2 workers x 16 threads, single-event POSTs): a group's transaction took
0.8 ms alone and 2.5-3.5 ms under load, plus as long again waiting for the other worker's lock, which held the
service at ~1,300 requests/s with the CPU 35 % idle. One writer process has no HTTP threads to compete with, no
second writer to wait for (SQLite has a single write lock anyway), and groups made of every worker's requests.

Protocol: frames of a 4-byte big-endian length and a pickle, over a Unix socket in a directory only the owner can
enter (pickles, so only processes of the same user may talk to it):

- ``("submit", kind, payload, size, wait)`` -- with ``wait`` the answer is ``("ok", result)`` once committed, or
  ``("error", code, message)`` with ``code`` one of ``queue_full``, ``database_unavailable``, ``unstorable``;
  without ``wait`` there is no answer (like :meth:`GroupWriter.submit_nowait`): such a job is not refused by the
  queue bound (a worker's exposure flush is bounded at its source, and a writer that stops reading makes the
  worker's send time out, so the worker forgets the rows and records the units again), and when the database
  could not be reached it is kept and written again after the backoff, without waiting for new traffic.
- ``("status",)`` -- ``("status", pending_events, database_down, last_error)``; ``pending_events`` is how many
  events were waiting when the writer last formed its groups.

One thread does everything: wait until some worker's socket is readable, read every complete message that has
arrived, write them as one group (several when they exceed ``group_max_events``; beyond ``queue_events`` waiting
events a waited job is refused with ``queue_full``), answer, repeat. Whatever arrives during a commit forms the next
group -- group commit without any thread hand-off.

Lifetime. The process holds an exclusive ``flock`` on ``<socket>.lock`` while it serves, so a second one started
concurrently exits at once. It leaves when no worker has been connected for ``--idle-exit`` seconds (default 10):
after the server stopped, or after its workers were replaced. A worker that finds no writer starts one. Workers
start it in their own process group, so stopping or killing the server's group stops it too. An event is
acknowledged only after the writer's commit, so losing the writer loses nothing acknowledged: the requests in
flight are answered ``503`` and the clients retry (``event_id`` keeps the retry from being stored twice).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    del sys.path[0]  # run by path: this directory (config.py, metrics.py, ...) must not shadow top-level modules

import argparse
import fcntl
import logging
import os
import pickle
import selectors
import signal
import socket
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest_service.config import Config
    from ingest_service.writer import GroupWriter

__all__ = ["WAL_CHECKPOINT_BYTES", "WriterServer", "build_writer", "claim", "frame", "main"]

_log = logging.getLogger("ingest_service.writer_server")
_HEADER = struct.Struct("!I")
#: Unless ``INGEST_WAL_AUTOCHECKPOINT`` says otherwise, the writer checkpoints after this much WAL: ≈10,000 pages of
#: 4 KiB (measured 2026-12-05) and, in a file made with 16 KiB pages, 2,560 -- the same rate as 10,000 of those with a
#: lower p99.
WAL_CHECKPOINT_BYTES = 40 << 20
_MAX_FRAME = 256 << 20
_RECV = 1 << 16


def frame(message: Any) -> bytes:
    """One protocol frame: the 4-byte length, then the pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def claim(path: Path) -> Any:
    """Take ``<socket>.lock`` (stdlib only: a writer started in a race exits before importing anything heavy);
    the open lock file, or None when another writer process holds it and serves this socket."""
    lock_file = open(f"{path}.lock", "a+b")  # noqa: SIM115 - held for the process' lifetime
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        return None
    return lock_file


class _Peer:
    """A connected worker thread: its socket and the bytes of a message not yet complete."""

    __slots__ = ("sock", "buf")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def messages(self) -> list[Any] | None:
        """Every complete message readable now; None when the worker closed the connection."""
        closed = False
        while True:
            try:
                data = self.sock.recv(_RECV)
            except BlockingIOError:
                break
            except OSError:
                closed = True
                break
            if not data:
                closed = True
                break
            self.buf += data
            if len(data) < _RECV:  # drained (no recv that ends in EAGAIN); later data wakes the selector again
                break
        out = []
        while len(self.buf) >= 4:
            (n,) = _HEADER.unpack_from(self.buf)
            if n > _MAX_FRAME:
                return None
            if len(self.buf) < 4 + n:
                break
            try:
                out.append(pickle.loads(bytes(self.buf[4 : 4 + n])))
            except Exception:  # noqa: BLE001 - a garbled frame ends this connection, not the writer
                return None
            del self.buf[: 4 + n]
        return None if closed and not out else out

    def send(self, message: Any) -> bool:
        try:
            self.sock.sendall(frame(message))
        except OSError:  # gone, or not reading its answers (buffer full): drop it, the worker answers 503
            return False
        return True


class WriterServer:
    """Serve worker connections on ``path`` with ``writer`` (see the module docstring).

    Parameters
    ----------
    writer:
        The group writer doing the work (the caller holds :func:`claim`'s lock); its own thread is not used.
    path:
        The Unix socket to listen on (its directory must exist).
    idle_exit:
        Seconds without any connected worker after which :meth:`serve_forever` returns.
    """

    def __init__(self, writer: GroupWriter, path: Path, idle_exit: float = 10.0) -> None:
        self.writer = writer
        self.path = Path(path)
        self.idle_exit = idle_exit
        self.last_waiting = 0
        self._peers: dict[int, _Peer] = {}
        self._sel = selectors.DefaultSelector()

    def serve_forever(self) -> None:
        """Listen, serve, and return once no worker was connected for ``idle_exit`` seconds."""
        self.path.unlink(missing_ok=True)  # a socket file left by a writer that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # bound and listening under a temporary name, then renamed into place: a worker that sees the path can
        # connect (between bind and listen a connect would be refused)
        staging = self.path.with_name(f".{os.getpid()}.s")  # short: AF_UNIX caps socket paths at 107 bytes
        staging.unlink(missing_ok=True)
        listener.bind(str(staging))
        os.chmod(staging, 0o600)
        listener.listen(512)
        listener.setblocking(False)
        os.replace(staging, self.path)
        self._sel.register(listener, selectors.EVENT_READ, None)
        _log.info("writer process %d serving %s", os.getpid(), self.path)
        idle_since = time.monotonic()
        try:
            while True:
                ready = self._sel.select(0.5)
                if not ready:
                    self.last_waiting = 0
                    if self.writer.retry_pending and not self.writer.database_down:
                        self.round(listener, [])  # jobs kept through a database outage: now, not at the next job
                    if not self._peers and time.monotonic() - idle_since > self.idle_exit:
                        self.path.unlink(missing_ok=True)  # workers start a new writer from now on
                        if self.writer.retry_pending:
                            _log.warning("exiting with %d unwritten events of unwaited jobs (the database did not "
                                         "answer)", self.writer.retry_pending)  # fmt: skip
                        return
                    continue
                self.round(listener, [key.data for key, _ in ready])
                if not self._peers:
                    idle_since = time.monotonic()
        finally:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            peer = _Peer(sock)
            self._peers[sock.fileno()] = peer
            self._sel.register(sock, selectors.EVENT_READ, peer)

    def _close(self, peer: _Peer) -> None:
        self._peers.pop(peer.sock.fileno(), None)
        try:
            self._sel.unregister(peer.sock)
        except (KeyError, ValueError):
            pass
        peer.sock.close()

    def round(self, listener: socket.socket, ready: list[_Peer | None]) -> None:
        """Read what the ready peers sent, write their jobs in groups, answer them."""
        from ingest_service.writer import Job, QueueFull

        jobs: list[Job] = []
        answers: list[tuple[_Peer, Any]] = []  # in arrival order: each connection's answers keep its order
        waiting = 0
        for peer in ready:
            if peer is None:
                self._accept(listener)
                continue
            messages = peer.messages()
            if messages is None:
                self._close(peer)
                continue
            for message in messages:
                op = message[0] if isinstance(message, tuple) and message else None
                if op == "submit":
                    _, kind, payload, size, wait = message
                    if wait and waiting + size > self.writer.queue_events:  # unwaited jobs: see the module's doc
                        error = QueueFull(
                            f"{waiting} events are waiting to be written (limit {self.writer.queue_events})"
                        )
                        answers.append((peer, ("error", error.code, str(error))))
                        continue
                    waiting += size
                    job = Job(kind, payload, size, wait, notify=False)
                    jobs.append(job)
                    if wait:
                        answers.append((peer, job))
                elif op == "status":
                    answers.append((peer, None))  # answered after this round's writes
                else:
                    answers.append((peer, ("error", "bad_message", f"unknown message {op!r} (expected submit or status)")))
        retries = self.writer.take_retries() if self.writer.retry_pending else []
        if retries:
            jobs = retries + jobs  # older: written first (their own group unless small)
        if jobs:
            self.last_waiting = waiting
            group: list[Job] = []
            total = 0
            for job in jobs:
                if group and total + job.size > self.writer.group_max_events:
                    self.writer.write_now(group)
                    group, total = [], 0
                group.append(job)
                total += job.size
            self.writer.write_now(group)
        for peer, answer in answers:
            if answer is None:
                w = self.writer
                answer = ("status", self.last_waiting, w.database_down, w.last_error)
            elif isinstance(answer, Job):
                answer = self._answer(answer)
            if not peer.send(answer):
                self._close(peer)

    @staticmethod
    def _answer(job: Any) -> tuple:
        from ingest_service.writer import UnstorableEvents, WriterUnavailable

        if job.error is None:
            return ("ok", job.result)
        if isinstance(job.error, WriterUnavailable):
            return ("error", job.error.code, str(job.error))
        if isinstance(job.error, UnstorableEvents):
            return ("error", "unstorable", str(job.error))
        return ("error", "database_unavailable", str(job.error))


def build_writer(config: Config) -> GroupWriter:
    """The group writer of the sidecar's settings, with the event and exposure handlers."""
    from analytics.db import get_engine
    from ingest_service.store import store_event_groups, store_exposure_groups
    from ingest_service.writer import GroupWriter

    url = config.database_url
    return GroupWriter(
        lambda: get_engine(url),
        {"events": store_event_groups, "exposures": store_exposure_groups},
        queue_events=config.queue_events,
        group_max_events=config.group_max_events,
        write_timeout=config.write_timeout,
        db_backoff=config.db_backoff,
        wal_autocheckpoint=config.wal_autocheckpoint,
        wal_checkpoint_bytes=WAL_CHECKPOINT_BYTES,
        sqlite_cache_mb=config.sqlite_cache_mb,
        migrate=config.migrate,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m ingest_service.writer_server``."""
    parser = argparse.ArgumentParser(prog="python -m ingest_service.writer_server", description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, type=Path, help="the Unix socket to serve")
    parser.add_argument("--idle-exit", type=float, default=10.0, help="seconds without workers before exiting")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    for sig in (signal.SIGTERM, signal.SIGINT):  # nothing acknowledged depends on finishing a group
        signal.signal(sig, lambda *_: os._exit(0))
    lock = claim(args.socket)
    if lock is None:
        return
    from ingest_service.config import Config

    if os.environ.get("ANALYTICS_LOG_MASKING", "1").strip() not in ("0", "false", "no"):
        from analytics.privacy import install_log_masking

        install_log_masking()  # as the workers do (docs/privacy.md): its log lines go to the same error log
    server = WriterServer(build_writer(Config.from_env()), args.socket, args.idle_exit)
    server.serve_forever()
    os._exit(0)  # daemon threads may still be blocked in recv()


if __name__ == "__main__":
    main()
