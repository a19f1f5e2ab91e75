"""The timings this process keeps (calculator loads, database queries, API requests) for the summary and
alerts.

A bounded ring per process: memory stays constant (``maxlen`` records, oldest dropped first), and
``dropped`` tells how many were pushed out so a summary can say its window is incomplete.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["TimingRecord", "TimingStore"]


@dataclass(frozen=True, slots=True)
class TimingRecord:
    """One kept duration: ``kind`` (``calculator_load``, ``db_query``, ``api``), ``name``, ``ms``, epoch
    ``at``;
    ``ok`` is False for an API response with status ≥ 500 or a block that raised."""

    at: float
    kind: str
    name: str
    ms: float
    ok: bool = True


class TimingStore:
    """Thread-safe bounded store of :class:`TimingRecord` (default 100,000 records)."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._records: deque[TimingRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.maxlen = maxlen
        self.dropped = 0

    def add(self, record: TimingRecord) -> None:
        """Keep ``record`` (dropping the oldest when full)."""
        with self._lock:
            if len(self._records) == self.maxlen:
                self.dropped += 1
            self._records.append(record)

    def select(self, kind: str, since: float, until: float | None = None) -> list[TimingRecord]:
        """Records of ``kind`` with ``since <= at < until`` (``until=None``: no upper bound)."""
        with self._lock:
            snapshot = list(self._records)
        hi = float("inf") if until is None else until
        return [r for r in snapshot if r.kind == kind and since <= r.at < hi]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.dropped = 0

    def __len__(self) -> int:
        return len(self._records)
