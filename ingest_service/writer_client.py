"""The workers' side of the writer process (:mod:`ingest_service.writer_server`), and the choice between the two.

:func:`make_writer` returns what :mod:`ingest_service.app` hands its resources:

- ``INGEST_WRITER=process`` (the default): a :class:`RemoteWriter`, the same interface as
  :class:`~ingest_service.writer.GroupWriter` (``submit``, ``submit_nowait``, ``probe``, ``pending_events``,
  ``database_down``, ``last_error``), talking to the machine's writer process for this database and settings, and
  starting that process when it finds none;
- ``INGEST_WRITER=thread``: a group writer thread inside each worker (the design the writer process replaced; kept
  for single-process servers such as ``wsgiref`` and for comparison in ``bench/ingest.py``).

Each request thread keeps its own connection (a blocking ``recv`` gives the GIL up until the commit is done: no
thread hand-off inside the worker). A connection that fails *after* a job was sent leaves the job's fate unknown:
the request is answered ``503`` (nothing acknowledged is lost; the client's retry is deduplicated by ``event_id``)
and the next job opens a new connection, starting a new writer process if needed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from analytics.errors import ConfigError
from ingest_service._pid import current_pid
from ingest_service.config import Config
from ingest_service.writer import (
    DatabaseUnavailable,
    GroupWriter,
    QueueFull,
    UnstorableEvents,
    probe_database,
)
from ingest_service.writer_server import _HEADER, frame

__all__ = ["RemoteWriter", "code_version", "make_writer", "socket_path", "warm_up_all"]

_ROOT = Path(__file__).resolve().parent.parent
#: ``sizeof(sockaddr_un.sun_path)``: a Unix socket's path, its final NUL included, must fit (108 on Linux, 104 on
#: macOS and the BSDs).
_UNIX_PATH_MAX = 108 if sys.platform.startswith("linux") else 104
_REPLY_MARGIN = 3.0
_writers: weakref.WeakSet[RemoteWriter] = weakref.WeakSet()


@functools.cache
def code_version(root: Path = _ROOT) -> str:
    """A digest of the code a writer process runs: every ``.py`` file under ``analytics/``, ``ingest_service/``
    and ``migrations/`` (paths and contents).

    It is part of the writer socket's name. A writer process outlives the server that started it by its idle
    time, and serves whichever workers connect: without the digest the workers of a new release, started within
    that time or by ``kill -HUP`` (gunicorn's reload, which never leaves the writer idle), were served by the old
    release's writer, writing with the old code. Now a new release starts its own writer; the old one exits once
    its workers are gone (two writers on one SQLite file take turns on its ingest lock).
    """
    digest = hashlib.sha256()
    for folder in ("analytics", "ingest_service", "migrations"):
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def socket_path(config: Config, runtime_dir: str | None = None) -> Path:
    """The writer socket of ``config``'s database and writer settings and of this code
    (:func:`code_version`), in a directory only this user can enter.

    ``INGEST_RUNTIME_DIR`` chooses the directory (default ``<tmp>/ai-calculator-ingest-<uid>``, or under ``/tmp``
    when the temporary directory's path is too long for a socket path to fit).

    Raises
    ------
    PermissionError
        When the directory belongs to another user or others may enter it.
    ConfigError
        When the directory's path is too long for a Unix socket's path to fit (a long ``TMPDIR``, as on macOS, or
        ``INGEST_RUNTIME_DIR``): at start-up, not as a failure of every request.
    """
    limit = _UNIX_PATH_MAX - 1 - len("/writer-.sock") - 20  # the longest directory path that fits (20 hex digits)
    chosen = runtime_dir or os.environ.get("INGEST_RUNTIME_DIR")
    if chosen:  # absolute: the writer process runs in the project directory, the workers maybe elsewhere
        base = Path(os.path.abspath(chosen))
    else:  # a long TMPDIR (macOS: /var/folders/.../T/) leaves no room for the name: /tmp then
        name = f"ai-calculator-ingest-{os.getuid()}"
        base = Path(tempfile.gettempdir()) / name
        if len(os.fsencode(base)) > limit:
            base = Path("/tmp") / name
    if len(os.fsencode(base)) > limit:
        raise ConfigError(
            f"the writer's runtime directory must be at most {limit} bytes long: a Unix socket's path is limited "
            f"to {_UNIX_PATH_MAX - 1} bytes; set INGEST_RUNTIME_DIR to a shorter directory, e.g. /tmp/aci "
            f"(got {str(base)!r}, {len(os.fsencode(base))} bytes)"
        )
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = base.stat()
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        raise PermissionError(
            f"the writer's runtime directory {base} must belong to uid {os.getuid()} with mode 0700 "
            f"(got uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})"
        )
    key = "|".join(map(str, (config.database_url, config.queue_events, config.group_max_events,
                             config.write_timeout, config.db_backoff, config.wal_autocheckpoint,
                             config.sqlite_cache_mb, code_version())))  # fmt: skip
    return base / f"writer-{hashlib.sha256(key.encode()).hexdigest()[:20]}.sock"


def _writer_env(config: Config) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=config.database_url,
        INGEST_QUEUE_EVENTS=str(config.queue_events),
        INGEST_GROUP_MAX_EVENTS=str(config.group_max_events),
        INGEST_WRITE_TIMEOUT=repr(config.write_timeout),
        INGEST_DB_BACKOFF=repr(config.db_backoff),
        INGEST_SQLITE_CACHE_MB=str(config.sqlite_cache_mb),
    )
    env.pop("INGEST_WAL_AUTOCHECKPOINT", None)
    if config.wal_autocheckpoint is not None:  # None: the writer's default, a WAL size in bytes
        env["INGEST_WAL_AUTOCHECKPOINT"] = str(config.wal_autocheckpoint)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
    return env


class RemoteWriter:
    """A group writer living in the writer process; see the module docstring.

    Parameters
    ----------
    config:
        The sidecar's settings (database, queue bound, timeouts).
    engine_factory:
        The worker's engine, for :meth:`probe` (a ``SELECT 1`` from the worker itself).
    start_timeout:
        Seconds to wait for a writer process to start answering.
    idle_exit:
        Passed to the writer process it starts.
    """

    def __init__(self, config: Config, engine_factory: Callable[[], Engine], start_timeout: float = 20.0,
                 idle_exit: float = 10.0) -> None:  # fmt: skip
        self.config = config
        self.path = socket_path(config)
        self._engine_factory = engine_factory
        self.start_timeout = start_timeout
        self.idle_exit = idle_exit
        self.reply_timeout = config.write_timeout + _REPLY_MARGIN
        self.status_timeout = 1.0
        self._local = threading.local()
        self._spawn_lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._spawning = True
        _writers.add(self)

    # -- connection -------------------------------------------------------------------------------------------
    def _connection(self) -> socket.socket:
        conn, pid = getattr(self._local, "conn", None), getattr(self._local, "pid", None)
        if conn is not None and pid == current_pid():
            return conn
        conn = self._connect()
        # kernel-side timeouts: the socket stays in blocking mode, so no poll() before each call; a send blocks only
        # if the writer stopped reading (stuck on a locked database) and the socket's buffer filled up
        secs = int(self.reply_timeout)
        timeval = struct.pack("ll", secs, int((self.reply_timeout - secs) * 1e6))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        self._local.conn, self._local.pid = conn, current_pid()
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def _connect(self, timeout: float | None = None) -> socket.socket:
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if not self._spawning:
                    raise DatabaseUnavailable("no writer process is running (not starting one: shutting down)") from None
                self._spawn()
            if time.monotonic() > deadline:
                raise DatabaseUnavailable(f"the writer process did not start within {timeout:g} s")
            time.sleep(0.05)

    def _spawn(self) -> None:
        """Start a writer process unless one this worker started is still alive (starting up, or serving after a
        failed connect); writers started by two workers at once settle on the lock, the loser exits at once."""
        with self._spawn_lock:
            if self._child is not None and self._child.poll() is None:
                return
            self._child = proc = subprocess.Popen(
                # run by path, not with -m: -m imports the package (and analytics, ≈0.9 s) before the start lock
                # is tried, which a writer started in a race would pay for nothing
                [sys.executable, str(Path(__file__).with_name("writer_server.py")), "--socket", str(self.path),
                 "--idle-exit", repr(self.idle_exit)],
                env=_writer_env(self.config), stdin=subprocess.DEVNULL, cwd=_ROOT,
            )  # fmt: skip
            threading.Thread(target=proc.wait, daemon=True, name="writer-reaper").start()

    def _send(self, data: bytes) -> socket.socket:
        """Send one frame on this thread's connection and return it. A connection whose writer process is gone
        (it died, or was killed: the send fails with EPIPE/ECONNRESET) is replaced once and the frame sent again --
        safe, since no writer took any of it -- so only a request whose job may have reached a writer gets 503;
        before, every thread's first request after a writer's death did."""
        for attempt in (1, 2):
            try:
                conn = self._connection()
            except OSError as exc:  # e.g. no file descriptor left (EMFILE): the request is answered 503, not 500
                raise DatabaseUnavailable(f"cannot connect to the writer process ({exc})") from None
            try:
                conn.sendall(data)
                return conn
            except (BrokenPipeError, ConnectionResetError) as exc:
                self._drop()
                if attempt == 2:
                    raise DatabaseUnavailable(f"the writer process went away ({exc})") from None
            except (TimeoutError, BlockingIOError):  # SO_SNDTIMEO: a writer that stopped reading
                self._drop()
                raise DatabaseUnavailable(f"the writer did not take the job within {self.reply_timeout:g} s") from None
            except OSError as exc:
                self._drop()
                raise DatabaseUnavailable(f"the writer process went away ({exc or type(exc).__name__})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, message: tuple) -> tuple:
        conn = self._send(frame(message))
        try:
            return _receive(conn)
        except (TimeoutError, BlockingIOError):
            self._drop()  # a late answer must not be read as the next job's
            raise DatabaseUnavailable(f"the commit did not finish within {self.reply_timeout:g} s") from None
        except (EOFError, OSError) as exc:
            self._drop()
            raise DatabaseUnavailable(f"the writer process went away ({exc or type(exc).__name__})") from None

    def stop_spawning(self) -> None:
        """From now on, fail at once instead of starting a writer process when none answers (at exit)."""
        self._spawning = False

    # -- the GroupWriter interface ----------------------------------------------------------------------------
    def submit(self, kind: str, payload: Any, size: int = 1) -> Any:
        """Store ``payload`` in the writer's next group; its result once committed (see ``GroupWriter.submit``)."""
        reply = self._call(("submit", kind, payload, size, True))
        if reply[0] == "ok":
            return reply[1]
        _, code, message = reply
        if code == "queue_full":
            raise QueueFull(message)
        if code == "unstorable":
            raise UnstorableEvents(message)
        raise DatabaseUnavailable(message)

    def submit_nowait(self, kind: str, payload: Any, size: int = 1) -> bool:
        """Queue ``payload`` without waiting for its commit; False when it could not be handed over."""
        try:
            self._send(frame(("submit", kind, payload, size, False)))
        except DatabaseUnavailable:  # incl. a send timeout: the connection is dropped either way
            return False
        return True

    def probe(self) -> None:
        """Check that the database answers the worker (``SELECT 1``); raises :class:`DatabaseUnavailable`."""
        probe_database(self._engine_factory)

    def status(self) -> tuple[int, bool, str | None]:
        """``(pending_events, database_down, last_error)`` of the writer process, on a connection of its own that
        waits at most ``status_timeout`` seconds: a writer that cannot answer that fast (stuck in a commit on a
        locked database) is reported down, so a readiness probe fails quickly instead of hanging."""
        try:
            sock = self._connect(timeout=max(self.status_timeout, 3.0))  # a health probe must not hang on a start
        except DatabaseUnavailable as exc:
            return 0, True, str(exc)
        except OSError as exc:  # e.g. no file descriptor left: reported down, never a 500
            return 0, True, f"cannot connect to the writer process ({exc})"
        try:
            sock.settimeout(self.status_timeout)
            sock.sendall(frame(("status",)))
            _, pending, down, error = _receive(sock)
        except (TimeoutError, BlockingIOError):
            return 0, True, f"the writer process did not answer within {self.status_timeout:g} s (busy committing)"
        except (EOFError, OSError) as exc:
            return 0, True, f"the writer process went away ({exc or type(exc).__name__})"
        finally:
            sock.close()
        return pending, down, error

    @property
    def pending_events(self) -> int:
        """Events queued in the writer process and not yet taken into a group."""
        return self.status()[0]

    @property
    def database_down(self) -> bool:
        """True while the writer process backs off after failing to reach the database (or cannot be reached)."""
        return self.status()[1]

    @property
    def last_error(self) -> str | None:
        """The writer process' last database error."""
        return self.status()[2]


def _receive(sock: socket.socket) -> Any:
    """One frame's message (usually a single ``recv``: answers are small)."""
    data = sock.recv(1 << 16)
    while len(data) < 4 or len(data) < 4 + _HEADER.unpack_from(data)[0]:
        more = sock.recv(1 << 16)
        if not more:
            raise EOFError("connection closed")
        data += more
    return pickle.loads(data[4:])


def make_writer(config: Config, engine_factory: Callable[[], Engine]) -> GroupWriter | RemoteWriter:
    """The writer ``config.writer`` (``INGEST_WRITER``) asks for: ``process`` (default) or ``thread``."""
    if config.writer == "thread":
        from ingest_service.writer_server import build_writer

        return build_writer(config)
    return RemoteWriter(config, engine_factory)


def warm_up_all() -> None:
    """Connect every remote writer of this process now (starting the writer process), in the background."""
    for writer in list(_writers):
        threading.Thread(target=writer.status, daemon=True, name="writer-warm-up").start()
