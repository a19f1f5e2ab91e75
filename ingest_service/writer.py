"""Group commit: one writer stores what concurrent requests queued, in one transaction.

The engine of both writer designs (``INGEST_WRITER``): the writer process (:mod:`ingest_service.writer_server`,
the default) drives it from its event loop with :meth:`GroupWriter.write_now`; in ``thread`` mode each worker
process runs it with a thread of its own, as described next.

A request hands its validated events to :meth:`GroupWriter.submit` and waits. The writer thread takes *every*
job queued since its last commit (up to ``group_max_events`` events), runs them in one transaction and commits
once, then wakes the waiting requests. One fsync is thus shared by all requests that arrived during the previous
commit: the classic group commit of database logs (Gray & Reuter, *Transaction Processing*, 1993, §9.4.7;
DeWitt et al., "Implementation techniques for main memory database systems", SIGMOD 1984). A request is answered
``2xx`` only after the commit returned, so an acknowledged event is on disk (SQLite WAL with
``synchronous=FULL``; PostgreSQL with ``synchronous_commit=on``, set on the writer's connection).

Failures:

- the queue holds more than ``queue_events`` events → :class:`QueueFull` at once for a waited job (the caller
  answers 503);
- the database cannot be reached (``OperationalError``/``InterfaceError``, SQLite ``database is locked``) →
  every job of the group fails with :class:`DatabaseUnavailable`; for ``db_backoff`` seconds new waited jobs fail
  at once, then the next group tries again, so the service recovers by itself when the database returns;
- any other database error (a value PostgreSQL cannot store) → the jobs are retried one per transaction, so only
  the offending request fails, with :class:`UnstorableEvents`.

Unwaited jobs (:meth:`GroupWriter.submit_nowait`: the first exposures that workers buffer) have nobody to tell of
a failure, and the worker that handed them over counts their units as recorded. So when the database could not be
reached, such a job is kept (at most ``retry_events`` events; beyond that dropped with a warning) and written
again in a later group once the backoff is over (:meth:`GroupWriter.take_retries`); insert-or-ignore makes a
second write of a row that did reach the database harmless. Neither the queue bound nor a backoff refuses one: a
worker's flush is bounded where it is made.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from analytics.storage import driver_errors
from ingest_service._pid import current_pid
from ingest_service.jobs import (
    DatabaseUnavailable,
    Handler,
    Job,
    QueueFull,
    RetryQueue,
    UnstorableEvents,
    WriterUnavailable,
)
from ingest_service.jobs import describe as _describe
from ingest_service.jobs import finish as _finish

__all__ = [
    "DatabaseUnavailable",
    "GroupWriter",
    "Job",
    "QueueFull",
    "UnstorableEvents",
    "WriterUnavailable",
    "probe_database",
]  # the jobs and their errors live in ingest_service.jobs; re-exported here, where callers have always found them

_log = logging.getLogger(__name__)
#: How often a PostgreSQL writer makes sure the coming months' partitions exist (analytics.partitions.upkeep), and
#: how soon it tries again after a failure or when another process held the upkeep's lock.
PARTITION_UPKEEP_SECONDS = 6 * 3600.0
PARTITION_RETRY_SECONDS = 600.0
#: A PostgreSQL group still running this long after ``write_timeout`` has its connection abandoned (the server's
#: ``statement_timeout``, equal to ``write_timeout``, would have ended it if the server were running).
ABANDON_MARGIN = 1.0
_WATCHDOG_TICK = 0.25
_WAIT_MARGIN = 2.0
_RETRY_POLL = 0.5  # thread mode: seconds between looks at kept jobs while no new job arrives


class SchemaNotReady(Exception):
    """The writer could not apply the migrations (``migrate=True``): handled as an unreachable database."""


#: PostgreSQL's undefined table, column and schema: a database not (yet) migrated, not the request's data, so the
#: client is told to retry (503) rather than that its events cannot be stored (SQLite's "no such table" is an
#: ``OperationalError`` already).
_SCHEMA_MISSING = frozenset({"42P01", "42703", "3F000"})
_DOWN_ERRORS = (
    SchemaNotReady, OperationalError, InterfaceError, DisconnectionError, PoolTimeout, ConnectionError, OSError,
)


class GroupWriter:
    """The per-process group-commit writer.

    Parameters
    ----------
    engine_factory:
        Returns the engine to write to (called in the writer thread, after any fork).
    handlers:
        Job kind → function storing all payloads of that kind of one group (e.g. every request's events in one
        ``write_events`` call) and returning one result per payload.
    queue_events:
        Bound on events waiting to be written; beyond it :meth:`submit` raises :class:`QueueFull`.
    group_max_events:
        Events per transaction at most (a job is never split).
    write_timeout:
        The writer connection's SQLite busy timeout; :meth:`submit` waits this plus 2 s for the commit.
    db_backoff:
        Seconds to fail fast after the database was found unreachable.
    wal_autocheckpoint:
        SQLite: ``PRAGMA wal_autocheckpoint`` of the writer's connection, in pages (None: ``wal_checkpoint_bytes``).
    wal_checkpoint_bytes:
        SQLite, when ``wal_autocheckpoint`` is None: the checkpoint interval as WAL bytes, turned into pages of the
        file's own page size (at least 100). None for both: SQLite's default, 1,000 pages.
    sqlite_cache_mb:
        SQLite: the writer connection's page cache in MiB (``PRAGMA cache_size``; None: SQLite's default, 2 MiB).
    retry_events:
        Bound on the events of unwaited jobs kept after the database could not be reached, to be written again
        once it answers; beyond it such jobs are dropped (logged, counted in ``dropped_events``).
    migrate:
        Apply the migrations (:func:`analytics.db.upgrade`) on the writer's first connection, before its first
        group. Until they succeed, writes fail as when the database is unreachable (``503``, backoff, retry).
    """

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        handlers: dict[str, Handler],
        *,
        queue_events: int = 20_000,
        group_max_events: int = 5_000,
        write_timeout: float = 10.0,
        db_backoff: float = 1.0,
        wal_autocheckpoint: int | None = None,
        wal_checkpoint_bytes: int | None = None,
        sqlite_cache_mb: int | None = None,
        retry_events: int = 100_000,
        migrate: bool = False,
    ) -> None:
        self._engine_factory = engine_factory
        self._handlers = handlers
        self._lock_file: Any = None
        self._conn: Connection | None = None
        self._conn_pid = 0
        self.queue_events = queue_events
        self.group_max_events = group_max_events
        self.write_timeout = write_timeout
        self.db_backoff = db_backoff
        self.wal_autocheckpoint = wal_autocheckpoint
        self.wal_checkpoint_bytes = wal_checkpoint_bytes
        self.sqlite_cache_mb = sqlite_cache_mb
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._down_until = 0.0
        self.last_error: str | None = None
        self.groups = 0
        self.committed_jobs = 0
        self._retries = RetryQueue(retry_events)
        self.migrate = migrate
        self._migrated = False
        self._next_upkeep = 0.0  # PostgreSQL's partitions: checked before the first group
        self._busy: tuple[float, int] | None = None  # (deadline, socket) of the PostgreSQL group in progress
        self._watchdog: threading.Thread | None = None
        self._watchdog_pid = 0
        self._abandoned = False  # set by the watchdog: the group's error is its doing

    # -- state --------------------------------------------------------------------------------------------------
    @property
    def pending_events(self) -> int:
        """Events queued and not yet taken by the writer."""
        return self._pending

    @property
    def database_down(self) -> bool:
        """True while the writer is backing off after failing to reach the database."""
        return time.monotonic() < self._down_until

    @property
    def retry_pending(self) -> int:
        """Events of unwaited jobs kept after a database failure, waiting to be written again."""
        return self._retries.size

    @property
    def dropped_events(self) -> int:
        """Events of unwaited jobs dropped because the retry queue was full."""
        return self._retries.dropped

    def take_retries(self) -> list[Job]:
        """Kept unwaited jobs to write again, oldest first, at most ``group_max_events`` events (at least one job);
        none while the writer backs off after a database failure."""
        return [] if self.database_down else self._retries.take(self.group_max_events)

    def status(self) -> tuple[int, bool, str | None]:
        """``(pending_events, database_down, last_error)`` in one call."""
        return self.pending_events, self.database_down, self.last_error

    def _ensure_thread(self) -> None:
        pid = current_pid()
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        with self._cond:
            if self._thread is not None and self._pid == pid and self._thread.is_alive():
                return
            if self._pid != pid:  # forked: the parent's queue and thread are not ours
                self._queue.clear()
                self._pending = 0
                self._retries.clear()
            self._pid = pid
            self._thread = threading.Thread(target=self._run, name="ingest-group-writer", daemon=True)
            self._thread.start()

    # -- API ----------------------------------------------------------------------------------------------------
    def _enqueue(self, kind: str, payload: Any, size: int, wait: bool) -> Job:
        self._ensure_thread()
        # an unwaited job is always queued, as the writer process takes it: the writer thread keeps it through a
        # backoff (ingest_service.jobs.RetryQueue), and its size is bounded where it is made (a worker's flush)
        if wait and self.database_down:
            raise DatabaseUnavailable(self.last_error or "the database is unavailable")
        job = Job(kind, payload, size, wait)
        with self._cond:
            if wait and self._pending + size > self.queue_events:
                raise QueueFull(f"{self._pending} events are waiting to be written (limit {self.queue_events})")
            self._queue.append(job)
            self._pending += size
            self._cond.notify()
        return job

    def submit(self, kind: str, payload: Any, size: int = 1) -> Any:
        """Store ``payload`` with the ``kind`` handler in the next group's transaction; its result once committed.

        Raises
        ------
        QueueFull, DatabaseUnavailable
            The job was not (or not surely) stored; answer 503.
        UnstorableEvents
            The database refused this job's data.
        """
        job = self._enqueue(kind, payload, size, True)
        # the writer gives up on a locked SQLite file after write_timeout; the margin lets its reason through
        if not job.done.wait(self.write_timeout + _WAIT_MARGIN):
            raise DatabaseUnavailable(f"the commit did not finish within {self.write_timeout + _WAIT_MARGIN:g} s")
        if job.error is not None:
            raise job.error
        return job.result

    def submit_nowait(self, kind: str, payload: Any, size: int = 1) -> bool:
        """Queue ``payload`` without waiting; neither the queue bound nor a backoff refuses it (a job the database
        could not take is kept and written again, see :meth:`take_retries`). False when it could not be queued."""
        try:
            self._enqueue(kind, payload, size, False)
        except WriterUnavailable:
            return False
        return True

    def probe(self) -> None:
        """Check that the database answers (``SELECT 1``); raises :class:`DatabaseUnavailable` otherwise."""
        probe_database(self._engine_factory)

    def write_now(self, jobs: list[Job]) -> None:
        """Write ``jobs`` in the calling thread, as one group (a caller running its own loop, such as the writer
        process, instead of :meth:`submit`); each job ends with ``result`` or ``error`` set."""
        try:
            self._write(jobs)
        except BaseException as exc:  # pragma: no cover - last resort: never leave a request hanging
            _log.exception("group writer failed")
            _finish(jobs, error=DatabaseUnavailable(_describe(exc)))

    # -- the writer thread --------------------------------------------------------------------------------------
    def _take(self) -> list[Job]:
        """The next group: kept unwaited jobs once they may be retried (a group of their own), else the queue's
        jobs up to ``group_max_events`` events."""
        with self._cond:
            while not self._queue:
                if self._retries.size and not self.database_down:
                    return self.take_retries()
                self._cond.wait(_RETRY_POLL if self._retries.size else None)
            retries = self.take_retries()
            if retries:
                return retries
            jobs = [self._queue.popleft()]
            total = jobs[0].size
            while self._queue and total + self._queue[0].size <= self.group_max_events:
                job = self._queue.popleft()
                total += job.size
                jobs.append(job)
            self._pending -= total
            return jobs

    def _run(self) -> None:
        while True:
            jobs = self._take()
            try:
                self._write(jobs)
            except BaseException as exc:  # pragma: no cover - last resort: never leave a request hanging
                _log.exception("group writer failed")
                _finish(jobs, error=DatabaseUnavailable(_describe(exc)))

    def _sqlite_lock(self, engine: Engine) -> Any:
        """An exclusive ``flock`` on ``<database>.ingest-lock``, shared by the writers of all worker processes.

        SQLite's busy handler sleeps 1, 2, 5, ... 100 ms between attempts, so two writers contending for the file
        would add tens of milliseconds to commits; a blocking ``flock`` hands the lock over at once.
        """
        if self._lock_file is None or self._lock_file[0] != current_pid():
            path = engine.url.database
            if not path or path == ":memory:":
                return None
            self._lock_file = (current_pid(), open(f"{path}.ingest-lock", "a+b"))  # noqa: SIM115 - kept open
        return self._lock_file[1]

    def _transaction(self, jobs: list[Job]) -> list[Any]:
        engine = self._engine_factory()
        lock = self._sqlite_lock(engine) if engine.dialect.name == "sqlite" else None
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            conn = self._connection(engine)
            if conn.dialect.name == "sqlite":
                return self._sqlite_transaction(conn, jobs)
            self._watch(conn)
            try:
                if time.monotonic() >= self._next_upkeep:
                    self._partition_upkeep(conn)
                with conn.begin():
                    if not conn.info.get("ingest_session_settings"):
                        # for the session (the writer keeps its connection), whatever the server's default:
                        # committed here means on disk before any request is answered, and a statement that
                        # waits (a lock) is cancelled by the server when the requests stop waiting for it
                        conn.exec_driver_sql("SET synchronous_commit TO on")
                        conn.exec_driver_sql(f"SET statement_timeout = {max(1, int(self.write_timeout * 1000))}")
                        conn.info["ingest_session_settings"] = True
                    return self._run_handlers(conn, jobs)
            finally:
                self._busy = None
        except BaseException:
            self._drop_connection()  # whatever went wrong, the next group starts on a fresh connection
            raise
        finally:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _sqlite_transaction(self, conn: Connection, jobs: list[Job]) -> list[Any]:
        """The group's transaction on SQLite, driven on the driver's connection: ``BEGIN IMMEDIATE`` (the write
        lock from the first read), the handlers, ``COMMIT`` (WAL, ``synchronous=FULL``: on disk when it returns).

        Not through SQLAlchemy's ``Connection.begin()``: its bookkeeping cost ≈25 µs of CPU per group, measured
        in-process against ≈110 µs for the rest of a one-event group (docs/ingest.md). Driver errors are raised as
        SQLAlchemy's, as Core statements would raise them."""
        raw = conn.connection.driver_connection
        with driver_errors(conn):
            if conn.info.get("ingest_busy_timeout") != self.write_timeout:  # once per connection
                raw.execute(f"PRAGMA busy_timeout={int(self.write_timeout * 1000)}")
                pages = self.wal_autocheckpoint
                if pages is None and self.wal_checkpoint_bytes is not None:
                    pages = max(100, self.wal_checkpoint_bytes // raw.execute("PRAGMA page_size").fetchone()[0])
                if pages is not None:
                    raw.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
                if self.sqlite_cache_mb is not None:  # negative: a size in KiB, not in pages
                    raw.execute(f"PRAGMA cache_size=-{int(self.sqlite_cache_mb) * 1024}")
                # Statement journals in memory. Each multi-row statement of a group keeps the pages it changes for
                # its own rollback; beyond 64 KiB (16 pages of 4 KiB) SQLite spilled them to a temporary file it
                # created, wrote, unlinked and closed (/var/tmp/etilqs_*, about once per group under the batch
                # load). Measured: writer CPU per batched event -4 to -6 %, mixed batches +2 to +7 % (docs/ingest.md).
                # The journal is bounded by the group (group_max_events) and freed when the statement ends.
                raw.execute("PRAGMA temp_store=MEMORY")
                conn.info["ingest_busy_timeout"] = self.write_timeout
            raw.execute("BEGIN IMMEDIATE")
        try:
            results = self._run_handlers(conn, jobs)
            with driver_errors(conn):
                raw.commit()
        except BaseException:
            if raw.in_transaction:
                with contextlib.suppress(Exception):  # the caller drops the connection anyway
                    raw.rollback()
            raise
        return results

    def _watch(self, conn: Connection) -> None:
        """Arm the watchdog for this PostgreSQL group: if it is not done ``write_timeout + ABANDON_MARGIN`` seconds
        from now, its connection's socket is shut down, so the blocked call fails and the writer carries on.

        Why: ``statement_timeout`` only helps while the server runs. A backend that stopped (a frozen VM, a
        stopped process) or a network path that still acknowledges packets but delivers nothing held the writer
        in its call for good -- measured: every request answered 503 after its wait, with no recovery, until the
        backend ran again. With the watchdog the group fails as with a lost connection (503, backoff) and the
        next group opens a new connection. A group abandoned while its ``COMMIT`` was in flight may have been
        stored: its requests got 503, and their retries are deduplicated by ``event_id``."""
        fd = _pg_socket(conn)
        if fd is None:
            return
        self._abandoned = False  # a flag left by a group that finished as the watchdog fired belongs to no one
        self._busy = (time.monotonic() + self.write_timeout + ABANDON_MARGIN, fd)
        if self._watchdog is None or self._watchdog_pid != current_pid() or not self._watchdog.is_alive():
            self._watchdog_pid = current_pid()
            self._watchdog = threading.Thread(target=self._watchdog_loop, name="ingest-writer-watchdog", daemon=True)
            self._watchdog.start()

    def _watchdog_loop(self) -> None:
        while True:
            time.sleep(_WATCHDOG_TICK)
            busy = self._busy
            if busy is not None and time.monotonic() > busy[0] and self._busy is busy:
                self._busy = None
                self._abandoned = True
                _log.warning("a PostgreSQL group did not finish within %.1f s: abandoning its connection",
                             self.write_timeout + ABANDON_MARGIN)  # fmt: skip
                _shutdown_socket(busy[1])

    def _partition_upkeep(self, conn: Connection) -> None:
        """PostgreSQL: create the coming months' partitions (:func:`analytics.partitions.upkeep`) before this group,
        on the first group and then every ``PARTITION_UPKEEP_SECONDS``; a failure (a table lock not granted within
        1 s) is logged and tried again after ``PARTITION_RETRY_SECONDS``, and never fails the group."""
        from analytics.partitions import upkeep

        now = time.monotonic()
        try:
            created = upkeep(conn)
        except DBAPIError as exc:
            if isinstance(exc, OperationalError) and exc.connection_invalidated:
                raise  # the database went away: the group's own handling applies
            _log.warning("partition upkeep failed, trying again in %d s: %s", PARTITION_RETRY_SECONDS, _describe(exc))
            self._next_upkeep = now + PARTITION_RETRY_SECONDS
            return
        if created:
            _log.info("partitions created ahead: %s", ", ".join(created))
        self._next_upkeep = now + (PARTITION_UPKEEP_SECONDS if created is not None else PARTITION_RETRY_SECONDS)

    def _run_handlers(self, conn: Connection, jobs: list[Job]) -> list[Any]:
        """Each kind's payloads through its handler (one call per kind); the results in the jobs' order."""
        results: dict[int, Any] = {}
        for kind, handler in self._handlers.items():
            mine = [job for job in jobs if job.kind == kind]
            if mine:
                for job, result in zip(mine, handler(conn, [j.payload for j in mine]), strict=True):
                    results[id(job)] = result
        return [results[id(job)] for job in jobs]

    def _connection(self, engine: Engine) -> Connection:
        """The writer's own connection, kept between groups (no pool check-out, check-in and reset per group)."""
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated or conn.engine is not engine or self._conn_pid != current_pid():
            if self.migrate and not self._migrated:
                self._upgrade(engine)
            conn = self._conn = engine.connect()
            self._conn_pid = current_pid()
        return conn

    def _upgrade(self, engine: Engine) -> None:
        from analytics.db import upgrade

        try:
            upgrade(engine)
        except Exception as exc:
            raise SchemaNotReady(f"the database migrations could not be applied: {_describe(exc)}") from exc
        self._migrated = True

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._conn_pid == current_pid():
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def _write(self, jobs: list[Job]) -> None:
        if self.database_down:
            _finish(jobs, error=DatabaseUnavailable(self.last_error or "the database is unavailable"))
            self._retries.keep(jobs)
            return
        try:
            try:
                results = self._transaction(jobs)
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) in _SCHEMA_MISSING:
                    raise SchemaNotReady(f"the database schema is not migrated: {_describe(exc)}") from exc
                raise
        except _DOWN_ERRORS as exc:
            self._mark_down(exc)
            _finish(jobs, error=DatabaseUnavailable(self.last_error or _describe(exc)))
            self._retries.keep(jobs)
            return
        except (DBAPIError, StatementError, ValueError, TypeError, ArithmeticError) as exc:
            if len(jobs) > 1:
                for job in jobs:  # isolate the offending job: one transaction each
                    self._write([job])
                return
            _log.warning("database refused a job: %s", exc)
            _finish(jobs, error=UnstorableEvents(_describe(exc)))
            return
        self.last_error = None
        self.groups += 1
        self.committed_jobs += len(jobs)
        for job, result in zip(jobs, results, strict=True):
            job.result = result
            if job.done is not None:
                job.done.set()

    def _mark_down(self, exc: BaseException) -> None:
        abandoned, self._abandoned = self._abandoned, False
        self.last_error = (
            f"the database did not answer within {self.write_timeout + ABANDON_MARGIN:g} s; its connection was "
            "abandoned" if abandoned else _describe(exc)
        )
        self._down_until = time.monotonic() + self.db_backoff
        _log.warning("database unavailable, backing off %.1f s: %s", self.db_backoff, self.last_error)


def _pg_socket(conn: Connection) -> int | None:
    """The file descriptor of a psycopg connection's socket (None for another driver)."""
    try:
        return int(conn.connection.driver_connection.pgconn.socket)
    except Exception:  # noqa: BLE001 - not psycopg, or closed: no watchdog for this group
        return None


def _shutdown_socket(fd: int) -> None:
    """Shut a socket down by its descriptor (both directions): a call blocked on it returns with an error."""
    try:
        dup = socket.socket(fileno=os.dup(fd))
    except OSError:
        return  # already closed
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()


def probe_database(engine_factory: Callable[[], Engine]) -> None:
    """``SELECT 1`` on a connection of ``engine_factory()``; :class:`DatabaseUnavailable` when it cannot be done."""
    try:
        with engine_factory().connect() as conn:
            conn.execute(text("SELECT 1"))
    except _DOWN_ERRORS as exc:
        raise DatabaseUnavailable(_describe(exc)) from exc
