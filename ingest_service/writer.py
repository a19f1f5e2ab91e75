"""Group commit: one writer thread per worker process stores what concurrent requests queued, in one transaction.

A request hands its validated events to :meth:`GroupWriter.submit` and waits. The writer thread takes *every*
job queued since its last commit (up to ``group_max_events`` events), runs them in one transaction and commits
once, then wakes the waiting requests. One fsync is thus shared by all requests that arrived during the previous
commit: the classic group commit of database logs (Gray & Reuter, *Transaction Processing*, 1993, §9.4.7;
DeWitt et al., "Implementation techniques for main memory database systems", SIGMOD 1984). A request is answered
``2xx`` only after the commit returned, so an acknowledged event is on disk (SQLite WAL with
``synchronous=FULL``; PostgreSQL with ``synchronous_commit=on``, set in each group's transaction).

Failures:

- the queue holds more than ``queue_events`` events → :class:`QueueFull` at once (the caller answers 503);
- the database cannot be reached (``OperationalError``/``InterfaceError``, SQLite ``database is locked``) →
  every job of the group fails with :class:`DatabaseUnavailable`; for ``db_backoff`` seconds new jobs fail at once,
  then the next group tries again, so the service recovers by itself when the database returns;
- any other database error (a value PostgreSQL cannot store) → the jobs are retried one per transaction, so only
  the offending request fails, with :class:`UnstorableEvents`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["DatabaseUnavailable", "GroupWriter", "QueueFull", "UnstorableEvents", "WriterUnavailable"]

_log = logging.getLogger(__name__)
_WAIT_MARGIN = 2.0
_DOWN_ERRORS = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, ConnectionError, OSError)


class WriterUnavailable(Exception):
    """The writer cannot take or store the job now; the caller should answer 503 with ``Retry-After``."""

    code = "unavailable"


class QueueFull(WriterUnavailable):
    """More events are waiting than the configured bound."""

    code = "queue_full"


class DatabaseUnavailable(WriterUnavailable):
    """The database could not be reached, or the commit did not finish in time."""

    code = "database_unavailable"


class UnstorableEvents(Exception):
    """The database refused this request's events (e.g. a number PostgreSQL cannot represent)."""


class _Job:
    __slots__ = ("fn", "size", "done", "result", "error", "wait")

    def __init__(self, fn: Callable[[Connection], Any], size: int, wait: bool) -> None:
        self.fn = fn
        self.size = size
        self.wait = wait
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class GroupWriter:
    """The per-process group-commit writer.

    Parameters
    ----------
    engine_factory:
        Returns the engine to write to (called in the writer thread, after any fork).
    queue_events:
        Bound on events waiting to be written; beyond it :meth:`submit` raises :class:`QueueFull`.
    group_max_events:
        Events per transaction at most (a job is never split).
    write_timeout:
        The writer connection's SQLite busy timeout; :meth:`submit` waits this plus 2 s for the commit.
    db_backoff:
        Seconds to fail fast after the database was found unreachable.
    """

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        *,
        queue_events: int = 20_000,
        group_max_events: int = 5_000,
        write_timeout: float = 10.0,
        db_backoff: float = 1.0,
    ) -> None:
        self._engine_factory = engine_factory
        self.queue_events = queue_events
        self.group_max_events = group_max_events
        self.write_timeout = write_timeout
        self.db_backoff = db_backoff
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._down_until = 0.0
        self.last_error: str | None = None
        self.groups = 0
        self.committed_jobs = 0

    # -- state --------------------------------------------------------------------------------------------------
    @property
    def pending_events(self) -> int:
        """Events queued and not yet taken by the writer."""
        return self._pending

    @property
    def database_down(self) -> bool:
        """True while the writer is backing off after failing to reach the database."""
        return time.monotonic() < self._down_until

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        with self._cond:
            if self._thread is not None and self._pid == pid and self._thread.is_alive():
                return
            if self._pid != pid:  # forked: the parent's queue and thread are not ours
                self._queue.clear()
                self._pending = 0
            self._pid = pid
            self._thread = threading.Thread(target=self._run, name="ingest-group-writer", daemon=True)
            self._thread.start()

    # -- API ----------------------------------------------------------------------------------------------------
    def _enqueue(self, fn: Callable[[Connection], Any], size: int, wait: bool) -> _Job:
        self._ensure_thread()
        if self.database_down:
            raise DatabaseUnavailable(self.last_error or "the database is unavailable")
        job = _Job(fn, size, wait)
        with self._cond:
            if self._pending + size > self.queue_events:
                raise QueueFull(f"{self._pending} events are waiting to be written (limit {self.queue_events})")
            self._queue.append(job)
            self._pending += size
            self._cond.notify()
        return job

    def submit(self, fn: Callable[[Connection], Any], size: int = 1) -> Any:
        """Run ``fn(conn)`` in the next group's transaction and return its result once committed.

        Raises
        ------
        QueueFull, DatabaseUnavailable
            The job was not (or not surely) stored; answer 503.
        UnstorableEvents
            The database refused this job's data.
        """
        job = self._enqueue(fn, size, True)
        # the writer gives up on a locked SQLite file after write_timeout; the margin lets its reason through
        if not job.done.wait(self.write_timeout + _WAIT_MARGIN):
            raise DatabaseUnavailable(f"the commit did not finish within {self.write_timeout + _WAIT_MARGIN:g} s")
        if job.error is not None:
            raise job.error
        return job.result

    def submit_nowait(self, fn: Callable[[Connection], Any], size: int = 1) -> bool:
        """Queue ``fn(conn)`` without waiting (best effort); False when it could not be queued."""
        try:
            self._enqueue(fn, size, False)
        except WriterUnavailable:
            return False
        return True

    def probe(self) -> None:
        """Check that the database answers (``SELECT 1``); raises :class:`DatabaseUnavailable` otherwise."""
        try:
            with self._engine_factory().connect() as conn:
                conn.execute(text("SELECT 1"))
        except _DOWN_ERRORS as exc:
            raise DatabaseUnavailable(_describe(exc)) from exc

    # -- the writer thread --------------------------------------------------------------------------------------
    def _take(self) -> list[_Job]:
        with self._cond:
            while not self._queue:
                self._cond.wait()
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

    def _transaction(self, jobs: list[_Job]) -> list[Any]:
        engine = self._engine_factory()
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(self.write_timeout * 1000)}")
            elif conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO on")
            return [job.fn(conn) for job in jobs]

    def _write(self, jobs: list[_Job]) -> None:
        if self.database_down:
            _finish(jobs, error=DatabaseUnavailable(self.last_error or "the database is unavailable"))
            return
        try:
            results = self._transaction(jobs)
        except _DOWN_ERRORS as exc:
            self._mark_down(exc)
            _finish(jobs, error=DatabaseUnavailable(_describe(exc)))
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
            job.done.set()

    def _mark_down(self, exc: BaseException) -> None:
        self.last_error = _describe(exc)
        self._down_until = time.monotonic() + self.db_backoff
        _log.warning("database unavailable, backing off %.1f s: %s", self.db_backoff, self.last_error)


def _finish(jobs: list[_Job], *, error: BaseException) -> None:
    for job in jobs:
        job.error = error
        job.done.set()


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip().splitlines()
    return (text_[0] if text_ else type(exc).__name__)[:300]
