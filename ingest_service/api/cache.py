"""A per-process TTL cache of JSON answers, one entry per (endpoint, parsed parameters), with single flight.

Concurrent requests for the same missing entry compute it once (the others wait for the first), so an expiring
popular dashboard does not start a stampede of identical queries.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["AnswerCache"]


class AnswerCache:
    """Up to ``max_entries`` answers, each kept ``ttl`` seconds (0: no caching).

    Parameters
    ----------
    ttl:
        Seconds an answer is reused.
    max_entries:
        The least recently used entries are dropped beyond this many.
    clock:
        Monotonic seconds (tests pass a fake one).
    """

    def __init__(self, ttl: float, max_entries: int = 512, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._flights: dict[Hashable, threading.Lock] = {}

    def get_or_compute(self, key: Hashable, compute: Callable[[], bytes]) -> tuple[bytes, bool, float]:
        """``(body, hit, age_seconds)``: the cached body when fresh, else ``compute()`` stored."""
        if self.ttl <= 0:
            return compute(), False, 0.0
        hit = self._fresh(key)
        if hit is not None:
            return hit[1], True, self.clock() - hit[0]
        with self._lock:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            hit = self._fresh(key)
            if hit is not None:
                return hit[1], True, self.clock() - hit[0]
            try:
                body = compute()
                with self._lock:
                    self._entries[key] = (self.clock(), body)
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            finally:
                with self._lock:
                    self._flights.pop(key, None)
        return body, False, 0.0

    def _fresh(self, key: Hashable) -> tuple[float, bytes] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() - entry[0] >= self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def clear(self) -> None:
        """Forget every answer (after a deletion request)."""
        with self._lock:
            self._entries.clear()
