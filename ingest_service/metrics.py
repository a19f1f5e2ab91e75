"""statsd metrics of the sidecar, sent through :mod:`analytics.performance` (prefix ``ai_calculator.``).

Per request: ``api.response_time.<route>.<method>`` and ``api.requests.<route>.<method>.<status>``. Per stored
event: what :func:`analytics.performance.emit_event_metrics` sends (``<event_type>`` and the derived counters).
Per rejected event: ``ingest.rejected.<event_type>``; and ``ingest.duplicates``, ``ingest.clock_corrected``,
``ingest.unavailable.<reason>``. When :mod:`analytics.performance` cannot be imported the plain ``statsd`` client
is used with the same prefix. Sending is one non-blocking UDP datagram per metric and never raises.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

__all__ = ["emit_request", "emit_stored", "incr"]

_log = logging.getLogger(__name__)

try:  # the team's client (prefix, name safety, configured from STATSD_HOST/STATSD_PORT)
    from analytics.performance import emit_api_request, emit_event_metrics, get_metrics, metric_component

    def _client() -> Any:
        return get_metrics()

except ImportError:  # pragma: no cover - only when analytics.performance is missing
    import re

    import statsd

    _fallback: Any = None
    _UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

    def metric_component(value: object) -> str:  # type: ignore[misc]
        text = _UNSAFE.sub("_", str(value)).strip("_")[:64] if value is not None else ""
        return text or "unknown"

    def _client() -> Any:
        global _fallback
        if _fallback is None:
            _fallback = statsd.StatsClient(
                os.environ.get("STATSD_HOST", "localhost"),
                int(os.environ.get("STATSD_PORT", "8125")),
                prefix="ai_calculator",
            )
        return _fallback

    def emit_api_request(route: str, method: str, status: int, duration_ms: float, metrics: Any = None) -> None:
        c = _client()
        c.timing(f"api.response_time.{metric_component(route)}.{method.upper()}", duration_ms)
        c.incr(f"api.requests.{metric_component(route)}.{method.upper()}.{status}")

    def emit_event_metrics(event: Any, metrics: Any = None) -> None:
        _client().incr(metric_component(event.event_type))


def emit_request(route: str, method: str, status: int, duration_ms: float) -> None:
    """One served request."""
    try:
        emit_api_request(route, method, status, duration_ms)
    except Exception:  # noqa: BLE001 - metrics must never break a request
        _log.debug("statsd send failed", exc_info=True)


def emit_stored(events: Iterable[Any]) -> None:
    """The metrics of events that were newly stored."""
    try:
        for event in events:
            emit_event_metrics(event)
    except Exception:  # noqa: BLE001
        _log.debug("statsd send failed", exc_info=True)


def incr(name: str, *labels: object, count: int = 1) -> None:
    """Increment ``<name>.<label>...`` (labels made safe with ``metric_component``)."""
    try:
        full = ".".join([name, *(metric_component(label) for label in labels)])
        _client().incr(full, count)
    except Exception:  # noqa: BLE001
        _log.debug("statsd send failed", exc_info=True)
