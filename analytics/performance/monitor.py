"""The seed's ``ai_calculator_performance`` object: sampler control, timing context managers, the summary."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine

from analytics.errors import InvalidParameterError
from analytics.performance.emit import emit_api_request
from analytics.performance.metrics import Metrics, get_metrics
from analytics.performance.names import metric_component
from analytics.performance.sampler import SystemSampler
from analytics.performance.stats import LatencyStats, latency_stats
from analytics.performance.summary import PerformanceSummary, build_summary
from analytics.performance.timings import TimingRecord, TimingStore

__all__ = ["PerformanceMonitor", "ai_calculator_performance"]

_log = logging.getLogger("analytics.performance.slow_queries")


class PerformanceMonitor:
    """Times calculator loads, database queries and API requests; samples CPU/memory; summarises.

    Parameters
    ----------
    metrics:
        The statsd client; ``None`` → :func:`analytics.performance.metrics.get_metrics` on first use.
    sample_interval:
        Seconds between CPU/memory samples once :meth:`start_monitoring` runs.
    slow_query_ms:
        Queries slower than this are logged (logger ``analytics.performance.slow_queries``, with their name)
        and counted in ``db.slow_queries.<name>``.
    keep:
        How many timings to keep in memory for the summary.
    engine:
        Default database for :meth:`get_performance_summary` (``None`` →
        :func:`analytics.db.get_read_engine`).
    clock:
        Epoch seconds stamped on kept timings (tests pass a fake one); durations always use ``perf_counter``.
    """

    def __init__(self, metrics: Metrics | None = None, sample_interval: float = 10.0,
                 slow_query_ms: float = 1000.0, keep: int = 100_000, engine: Engine | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not slow_query_ms >= 0:
            raise InvalidParameterError(
                "slow_query_ms", f"'slow_query_ms' must be >= 0 (got slow_query_ms={slow_query_ms!r})")
        self._metrics = metrics
        self.sample_interval = sample_interval
        self.slow_query_ms = float(slow_query_ms)
        self.timings = TimingStore(keep)
        self.engine = engine
        self.clock = clock
        self._sampler: SystemSampler | None = None
        self._lock = threading.Lock()

    @property
    def metrics(self) -> Metrics:
        return self._metrics if self._metrics is not None else get_metrics()

    @property
    def sampler(self) -> SystemSampler:
        """The CPU/memory sampler (created on first use, reporting to :attr:`metrics`)."""
        with self._lock:
            if self._sampler is None:
                self._sampler = SystemSampler(self.sample_interval, self.metrics, clock=self.clock)
            return self._sampler

    def start_monitoring(self, interval: float | None = None) -> bool:
        """Start the background CPU/memory sampler; ``False`` when already running (never two at once)."""
        sampler = self.sampler
        if interval is not None and not sampler.running:
            if not interval > 0:
                raise InvalidParameterError(
                    "interval", f"'interval' must be > 0 seconds (got interval={interval!r})")
            sampler.interval = float(interval)
        return sampler.start()

    def stop_monitoring(self, timeout: float = 5.0) -> bool:
        """Stop the sampler and wait for its thread; ``False`` when it was not running."""
        return self._sampler.stop(timeout) if self._sampler is not None else False

    @property
    def is_monitoring(self) -> bool:
        return self._sampler is not None and self._sampler.running

    def _keep(self, kind: str, name: str, ms: float, ok: bool) -> None:
        self.timings.add(TimingRecord(self.clock(), kind, name, ms, ok))

    @contextmanager
    def track_calculator_load_time(self) -> Iterator[None]:
        """Time the block: timer ``load_time`` and a kept ``calculator_load`` timing (also when it raises)."""
        t0 = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            ms = (time.perf_counter() - t0) * 1000
            self.metrics.timing("load_time", ms)
            self._keep("calculator_load", "calculator", ms, ok)

    @contextmanager
    def track_database_query(self, name: str) -> Iterator[None]:
        """Time the block as query ``name``: timer ``db.query_time.<name>``, kept timing, slow-query log."""
        if not isinstance(name, str) or not name:
            raise InvalidParameterError("name", f"'name' must be a non-empty string (got name={name!r})")
        t0 = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            ms = (time.perf_counter() - t0) * 1000
            component = metric_component(name)
            self.metrics.timing(f"db.query_time.{component}", ms)
            self._keep("db_query", name, ms, ok)
            if ms > self.slow_query_ms:
                self.metrics.incr(f"db.slow_queries.{component}")
                _log.warning("slow query %s took %.1f ms (threshold %.0f ms)", name, ms, self.slow_query_ms)

    def record_api_request(self, route: str, method: str, status: int, duration_ms: float) -> None:
        """Record one served request (the sidecar's middleware calls this): statsd plus a kept timing."""
        emit_api_request(route, method, status, duration_ms, self.metrics)
        self._keep("api", f"{method.upper()} {route}", float(duration_ms), int(status) < 500)

    def query_stats(self, since: float = float("-inf"), confidence: float = 0.95) -> dict[str, LatencyStats]:
        """Kept database query timings (epoch ``at >= since``) per query name, slowest p95 first."""
        by_name: dict[str, list[float]] = {}
        for r in self.timings.select("db_query", since):
            by_name.setdefault(r.name, []).append(r.ms)
        stats = {k: latency_stats(v, confidence) for k, v in by_name.items()}
        return dict(sorted(stats.items(), key=lambda kv: -kv[1].p95.value))

    def get_performance_summary(self, hours: float = 24, engine: Engine | None = None,
                                now: datetime | None = None, confidence: float = 0.95) -> PerformanceSummary:
        """Summary of the last ``hours``: see :func:`analytics.performance.summary.build_summary`.

        ``engine`` defaults to the monitor's engine, else the configured read database.
        """
        if engine is None:
            engine = self.engine
        if engine is None:
            from analytics.db import get_read_engine

            engine = get_read_engine()
        return build_summary(self.timings, engine, hours, now, self.slow_query_ms, confidence,
                             self.track_database_query)


#: The seed's process-wide monitor: ``from analytics import ai_calculator_performance``.
ai_calculator_performance = PerformanceMonitor()
