"""statsd metrics of the sidecar, named by :mod:`analytics.performance` (prefix ``ai_calculator.``), sent in batches.

Per request: ``api.response_time.<route>.<method>`` and ``api.requests.<route>.<method>.<status>``. Per stored
event: what :func:`analytics.performance.emit_event_metrics` sends (``<event_type>`` and the derived counters).
Per rejected event: ``ingest.rejected.<event_type>``; and ``ingest.duplicates``, ``ingest.clock_corrected``,
``ingest.unavailable.<reason>``.

Batching. One UDP ``sendto`` per metric cost ≈170 µs here -- more than the rest of a request. So the sidecar
hands :mod:`analytics.performance`'s emit functions a :class:`BufferedMetrics`: counters are summed in memory,
timers and gauges kept, and a daemon thread flushes them every second as multi-metric statsd packets (lines joined
by newlines, at most 512 bytes, statsd's documented packet format). A counter's total per second is what statsd
aggregates anyway; every timer sample is still sent. When :mod:`analytics.performance` cannot be imported the
plain ``statsd`` package is used with the same prefix and ``STATSD_HOST``/``STATSD_PORT``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import statsd

__all__ = ["BufferedMetrics", "emit_request", "emit_stored", "incr"]

_log = logging.getLogger(__name__)
_MAX_TIMERS = 50_000  # per flush interval; beyond it samples are dropped (counted in ingest.metrics_dropped)
RECONNECT_SECONDS = 30.0  # a statsd host that could not be resolved is looked up again after this

try:  # the team's catalogue of names and emit functions
    from analytics.performance import Metrics, emit_api_request, emit_event_metrics, metric_component

    def _address() -> tuple[str, int, str]:
        m = Metrics.from_env()
        return m.host, m.port, m.prefix

except ImportError:  # pragma: no cover - only when analytics.performance is missing
    import re

    _UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

    def metric_component(value: object) -> str:  # type: ignore[misc]
        text = _UNSAFE.sub("_", str(value)).strip("_")[:64] if value is not None else ""
        return text or "unknown"

    def _address() -> tuple[str, int, str]:
        return os.environ.get("STATSD_HOST") or "localhost", int(os.environ.get("STATSD_PORT") or 8125), "ai_calculator"

    def emit_api_request(route: str, method: str, status: int, duration_ms: float, metrics: Any = None) -> None:
        metrics.timing(f"api.response_time.{metric_component(route)}.{method.upper()}", duration_ms)
        metrics.incr(f"api.requests.{metric_component(route)}.{method.upper()}.{status}")

    def emit_event_metrics(event: Any, metrics: Any = None) -> None:
        metrics.incr(metric_component(event.event_type))


class BufferedMetrics:
    """A drop-in for :class:`analytics.performance.Metrics` (``incr``/``timing``/``gauge``) that sends in batches.

    Parameters
    ----------
    interval:
        Seconds between flushes.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._timers: list[tuple[str, float]] = []
        self._gauges: dict[str, float] = {}
        self._dropped = 0
        self._ready = False
        self._client: statsd.StatsClient | None = None
        self._retry_at = 0.0
        self._prefix = ""
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        """In a forked child (a gunicorn worker): a fresh lock, buffers and flusher on next use."""
        self._lock = threading.Lock()
        self._ready = False

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            self._ready = True
            self._counters.clear()
            self._timers.clear()
            self._connect()
            threading.Thread(target=self._loop, name="ingest-statsd", daemon=True).start()
            atexit.register(self.flush)

    def _connect(self) -> None:
        """Make the statsd client. When the host cannot be resolved (a DNS hiccup while the service starts, the
        statsd host not up yet), metrics are dropped and the client made again after ``RECONNECT_SECONDS``: it was
        never made again before, so one failed lookup at start-up lost the process' metrics until its restart."""
        try:
            host, port, self._prefix = _address()
            self._client = statsd.StatsClient(host, port, prefix=self._prefix)
        except Exception as exc:  # noqa: BLE001 - unresolvable host or bad port: drop metrics, never fail
            _log.warning("statsd unavailable (%s); metrics are dropped, trying again in %g s", exc, RECONNECT_SECONDS)
            self._client = None
            self._retry_at = time.monotonic() + RECONNECT_SECONDS

    def _name(self, name: str) -> str:
        strip = self._prefix + "."
        return name[len(strip):] if self._prefix and name.startswith(strip) else name

    def incr(self, name: str, count: int = 1) -> None:
        self._ensure()
        with self._lock:
            self._counters[self._name(name)] += count

    def timing(self, name: str, ms: float) -> None:
        self._ensure()
        with self._lock:
            if len(self._timers) < _MAX_TIMERS:
                self._timers.append((self._name(name), ms))
            else:
                self._dropped += 1

    def gauge(self, name: str, value: float) -> None:
        self._ensure()
        with self._lock:
            self._gauges[self._name(name)] = value

    def request(self, timer: str, ms: float, counter: str) -> None:
        """One timer sample and one counter increment under one lock (a served request)."""
        self._ensure()
        with self._lock:
            if len(self._timers) < _MAX_TIMERS:
                self._timers.append((self._name(timer), ms))
            else:
                self._dropped += 1
            self._counters[self._name(counter)] += 1

    def merge(self, local: _Local) -> None:
        """Add what a request collected locally (one lock for all of its events)."""
        self._ensure()
        with self._lock:
            for name, count in local.counters.items():
                self._counters[self._name(name)] += count
            room = _MAX_TIMERS - len(self._timers)
            self._timers.extend((self._name(n), ms) for n, ms in local.timers[:room])
            self._dropped += max(0, len(local.timers) - room)
            for name, value in local.gauges.items():
                self._gauges[self._name(name)] = value

    def _loop(self) -> None:
        event = threading.Event()
        while not event.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        """Send everything buffered (multi-metric packets of at most 512 bytes)."""
        with self._lock:
            counters, self._counters = self._counters, defaultdict(int)
            timers, self._timers = self._timers, []
            gauges, self._gauges = self._gauges, {}
            dropped, self._dropped = self._dropped, 0
        if self._client is None and time.monotonic() >= self._retry_at:
            self._connect()
        if self._client is None or not (counters or timers or gauges or dropped):
            return
        if dropped:
            counters["ingest.metrics_dropped"] += dropped
        try:
            pipe = self._client.pipeline()
            for name, count in counters.items():
                pipe.incr(name, count)
            for name, ms in timers:
                pipe.timing(name, ms)
            for name, value in gauges.items():
                pipe.gauge(name, value)
            pipe.send()
        except Exception:  # noqa: BLE001 - metrics must never break the service
            _log.debug("statsd send failed", exc_info=True)


#: The process' buffer (fork-safe: a forked worker starts with an empty one and its own flusher).
BUFFER = BufferedMetrics()


def emit_request(route: str, method: str, status: int, duration_ms: float) -> None:
    """One served request (the names :func:`emit_api_request` gives, worked out once per route/method/status)."""
    try:
        key = (route, method, status)
        names = _REQUEST_NAMES.get(key)
        if names is None:
            local = _Local()
            emit_api_request(route, method, status, 0.0, metrics=local)
            names = (local.timers[0][0], next(iter(local.counters)))
            if len(_REQUEST_NAMES) < 10_000:  # routes are templates, methods and statuses few: this stays small
                _REQUEST_NAMES[key] = names
        BUFFER.request(names[0], duration_ms, names[1])
    except Exception:  # noqa: BLE001 - metrics must never break a request
        _log.debug("metrics failed", exc_info=True)


_REQUEST_NAMES: dict[tuple[str, str, int], tuple[str, str]] = {}


class _Local:
    """The emit functions' metrics client for one request: plain dicts, merged into :data:`BUFFER` at the end."""

    __slots__ = ("counters", "timers", "gauges")

    def __init__(self) -> None:
        self.counters: defaultdict[str, int] = defaultdict(int)
        self.timers: list[tuple[str, float]] = []
        self.gauges: dict[str, float] = {}

    def incr(self, name: str, count: int = 1) -> None:
        self.counters[name] += count

    def timing(self, name: str, ms: float) -> None:
        self.timers.append((name, ms))

    def gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value


def emit_stored(events: Iterable[Any]) -> None:
    """The metrics of events that were newly stored."""
    try:
        local = _Local()
        for event in events:
            emit_event_metrics(event, metrics=local)
        BUFFER.merge(local)
    except Exception:  # noqa: BLE001
        _log.debug("metrics failed", exc_info=True)


def incr(name: str, *labels: object, count: int = 1) -> None:
    """Increment ``<name>.<label>...`` (labels made safe with ``metric_component``)."""
    try:
        BUFFER.incr(".".join([name, *(metric_component(label) for label in labels)]), count)
    except Exception:  # noqa: BLE001
        _log.debug("metrics failed", exc_info=True)
