"""What the group writer is given and how it fails: :class:`Job`, the writer's errors, and the :class:`RetryQueue`
of unwaited jobs kept through a database outage (:mod:`ingest_service.writer` re-exports all but the queue)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

__all__ = [
    "DatabaseUnavailable",
    "Handler",
    "Job",
    "QueueFull",
    "RetryQueue",
    "UnstorableEvents",
    "WriterUnavailable",
    "describe",
    "finish",
]

_log = logging.getLogger("ingest_service.writer")


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


#: A handler stores the payloads of one kind of job in the group's transaction and returns one result per payload.
Handler = Callable[[Connection, list[Any]], list[Any]]


class Job:
    """One submitted payload: its kind, size in events, and (once written) ``result`` or ``error``.

    ``done`` is the event a thread waiting in :meth:`GroupWriter.submit` is woken by; None with ``notify=False``
    (the writer process answers its jobs itself, and an ``Event`` per job costs it ≈5 µs)."""

    __slots__ = ("kind", "payload", "size", "done", "result", "error", "wait")

    def __init__(self, kind: str, payload: Any, size: int, wait: bool, notify: bool = True) -> None:
        self.kind = kind
        self.payload = payload
        self.size = size
        self.wait = wait
        self.done = threading.Event() if notify else None
        self.result: Any = None
        self.error: BaseException | None = None




def finish(jobs: list[Job], *, error: BaseException) -> None:
    """End ``jobs`` with ``error`` and wake whoever waits on them."""
    for job in jobs:
        job.error = error
        if job.done is not None:
            job.done.set()


def describe(exc: BaseException) -> str:
    """The first line of a database error (its driver's message), at most 300 characters."""
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip().splitlines()
    return (text_[0] if text_ else type(exc).__name__)[:300]


class RetryQueue:
    """Unwaited jobs (:meth:`~ingest_service.writer.GroupWriter.submit_nowait`: first exposures) of groups the
    database could not take, kept to be written again.

    Nobody waits for such a job, so nobody else would learn that it failed, and the worker that handed it over
    counts its units as recorded. Waited jobs are not kept: their requests were answered 503 and their clients
    retry.

    Parameters
    ----------
    max_events:
        Bound on the events kept; a job that would pass it is dropped, logged and counted in ``dropped``.
    """

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.size = 0
        self.dropped = 0
        self._jobs: deque[Job] = deque()

    def keep(self, jobs: list[Job]) -> None:
        """Keep the unwaited ones of ``jobs`` (a group that just failed), their errors cleared."""
        for job in jobs:
            if job.wait:
                continue
            if self.size + job.size > self.max_events:
                self.dropped += job.size
                _log.warning(
                    "dropped an unwritten %r job of %d events: %d events already wait for the database (limit %d)",
                    job.kind, job.size, self.size, self.max_events,
                )  # fmt: skip
                continue
            job.error = None
            self._jobs.append(job)
            self.size += job.size

    def take(self, max_events: int) -> list[Job]:
        """The oldest kept jobs up to ``max_events`` events (at least one job when any is kept)."""
        jobs: list[Job] = []
        total = 0
        while self._jobs and (not jobs or total + self._jobs[0].size <= max_events):
            job = self._jobs.popleft()
            jobs.append(job)
            total += job.size
        self.size -= total
        return jobs

    def clear(self) -> None:
        """Forget every kept job (a forked child: they are its parent's)."""
        self._jobs.clear()
        self.size = 0
