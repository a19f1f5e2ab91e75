"""Performance monitoring: statsd metrics, the CPU/memory sampler, timing context managers and the summary.

The seed's API::

    from analytics.performance import ai_calculator_performance
    ai_calculator_performance.start_monitoring()
    with ai_calculator_performance.track_database_query("get_user_data"):
        ...
    summary = ai_calculator_performance.get_performance_summary(hours=24)

The ingest sidecar calls :func:`emit_event_metrics` per stored event and
:meth:`PerformanceMonitor.record_api_request` (or :func:`emit_api_request`) per request.
"""

from analytics.performance.emit import emit_api_request, emit_conversion_rate, emit_event_metrics
from analytics.performance.metrics import Metrics, get_metrics, set_metrics
from analytics.performance.monitor import PerformanceMonitor, ai_calculator_performance
from analytics.performance.names import METRICS, PREFIX, MetricSpec, metric_component
from analytics.performance.sampler import SystemSample, SystemSampler
from analytics.performance.series import error_rate_series, event_count_series, latency_series
from analytics.performance.stats import LatencyStats, Quantile, Rate, latency_stats, wilson_rate
from analytics.performance.summary import PerformanceSummary, build_summary
from analytics.performance.timings import TimingRecord, TimingStore

__all__ = [
    "METRICS",
    "PREFIX",
    "LatencyStats",
    "MetricSpec",
    "Metrics",
    "PerformanceMonitor",
    "PerformanceSummary",
    "Quantile",
    "Rate",
    "SystemSample",
    "SystemSampler",
    "TimingRecord",
    "TimingStore",
    "ai_calculator_performance",
    "build_summary",
    "emit_api_request",
    "emit_conversion_rate",
    "emit_event_metrics",
    "error_rate_series",
    "event_count_series",
    "get_metrics",
    "latency_series",
    "latency_stats",
    "metric_component",
    "set_metrics",
    "wilson_rate",
]
