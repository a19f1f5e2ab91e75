"""Where alert rules get their values: this process' monitor (kept timings, CPU/memory samples) and the
events.

``ObservationSource(monitor, engine)(metric, window_seconds, now)`` returns an :class:`Observation` whose
``count`` is the number of observations behind the value (requests, sessions, samples), which rules compare
with their ``min_count``. Latencies are p95 (Hyndman & Fan type 7); gauges are the mean of the window's
samples.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, distinct, func, select

from analytics.alerts.engine import Observation
from analytics.alerts.rules import METRIC_NAMES
from analytics.errors import InvalidParameterError
from analytics.performance.monitor import PerformanceMonitor
from analytics.performance.sql_latency import event_latency
from analytics.performance.stats import latency_stats
from analytics.schema import analytics_events as _ev

__all__ = ["ObservationSource"]

_EPOCH = datetime(1970, 1, 1)
_NO_DATA = Observation(None, 0)


def _p95(values: list[float]) -> Observation:
    stats = latency_stats(values)
    return Observation(stats.p95.value if stats.p95 else None, stats.count)


class ObservationSource:
    """Computes rule observations.

    Parameters
    ----------
    monitor:
        The process' :class:`PerformanceMonitor` (kept timings and sampler); ``None``: those metrics have no
        data.
    engine:
        The events database; ``None``: event-based metrics fall back to kept timings or have no data.
    """

    def __init__(self, monitor: PerformanceMonitor | None = None, engine: Engine | None = None) -> None:
        self.monitor = monitor
        self.engine = engine

    def __call__(self, metric: str, window_seconds: float, now: datetime) -> Observation:
        if metric not in METRIC_NAMES:
            raise InvalidParameterError(
                "metric", f"'metric' must be one of {', '.join(METRIC_NAMES)} (got metric={metric!r})")
        start = now - timedelta(seconds=window_seconds)
        lo, hi = (start - _EPOCH).total_seconds(), (now - _EPOCH).total_seconds()
        if metric == "calculator_load_p95_ms" and self.engine is not None:
            with self.engine.connect() as conn:
                stats = event_latency(conn, ("page_load_timing",), "load_time_ms", start, now).get(None)
            if stats is not None:
                return Observation(stats.p95.value, stats.count)
        if metric == "client_error_rate":
            return self._client_error_rate(start, now)
        m = self.monitor
        if m is None:
            return _NO_DATA
        if metric == "calculator_load_p95_ms":
            return _p95([r.ms for r in m.timings.select("calculator_load", lo, hi)])
        if metric == "db_query_p95_ms":
            return _p95([r.ms for r in m.timings.select("db_query", lo, hi)])
        api = m.timings.select("api", lo, hi)
        if metric == "api_response_p95_ms":
            return _p95([r.ms for r in api])
        if metric == "api_error_rate":
            return Observation(sum(not r.ok for r in api) / len(api), len(api)) if api else _NO_DATA
        samples = [s for s in m.sampler.samples(lo) if s.at < hi]
        if not samples:
            return _NO_DATA
        attr = "system_memory_percent" if metric == "memory_percent" else "system_cpu_percent"
        return Observation(sum(getattr(s, attr) for s in samples) / len(samples), len(samples))

    def _client_error_rate(self, start: datetime, end: datetime) -> Observation:
        if self.engine is None:
            return _NO_DATA
        with self.engine.connect() as conn:
            sessions, errors = conn.execute(select(
                func.count(distinct(_ev.c.session_id)),
                func.count(distinct(_ev.c.session_id)).filter(_ev.c.event_type == "client_error"),
            ).where(and_(_ev.c.timestamp >= start, _ev.c.timestamp < end))).one()
        return Observation(errors / sessions, int(sessions)) if sessions else _NO_DATA
