"""What the ingest sidecar calls to turn stored events and served requests into statsd metrics.

The sidecar calls :func:`emit_event_metrics` once per *stored* (deduplicated) event and
:func:`emit_api_request` once per request; :func:`emit_conversion_rate` is for whoever computes the rate
(the dashboard refresh). Names follow :data:`analytics.performance.names.METRICS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from analytics.performance.metrics import Metrics, get_metrics
from analytics.performance.names import metric_component

__all__ = ["MAX_LABEL_VALUES", "emit_api_request", "emit_conversion_rate", "emit_event_metrics"]

#: Distinct values one label of a metric family may take in a process; later new values are sent as ``other``.
#: The labels that come from clients (plan, traffic source, e-mail type, test and variant names, HTTP method) are
#: free text: without a bound each made-up value became a statsd series of its own (a Graphite file each), so
#: one client could grow the metrics store without limit. Real values are few (3 plans, tens of sources).
MAX_LABEL_VALUES = 100
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_seen: dict[str, set[str]] = {}

_EMAIL = {"email_sent": "sent", "email_delivered": "delivered", "email_opened": "opened",
          "email_bounced": "bounced"}
_PAYMENT = {"payment_succeeded": "succeeded", "payment_failed": "failed"}
_REVENUE = ("payment_succeeded", "subscription_renewed")


class _EventLike(Protocol):
    event_type: str
    event_data: dict[str, Any]


def _label(family: str, value: object) -> str:
    """``metric_component(value)``, or ``other`` once ``family`` has had :data:`MAX_LABEL_VALUES` other values."""
    name = metric_component(value)
    seen = _seen.get(family)
    if seen is None:
        seen = _seen.setdefault(family, set())
    if name not in seen:
        if len(seen) >= MAX_LABEL_VALUES:
            return "other"
        seen.add(name)
    return name


def _number(value: Any) -> float | None:
    """A finite non-negative float, or ``None`` (bools and strings are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def emit_event_metrics(event: _EventLike | Mapping[str, Any], metrics: Metrics | None = None) -> None:
    """Send the metrics one stored event implies.

    Every event increments ``ai_calculator.<event_type>``; in addition

    - ``page_load_timing`` → timer ``load_time``; ``step_load_timing`` → timer ``step_load_time.<step>``;
    - ``calculator_step_completed`` → counter ``funnel.step_completed.<step>``;
    - ``payment_succeeded`` / ``payment_failed`` → counter ``payments.<outcome>.<plan>`` and timer
      ``payment.processing_time.<outcome>`` when ``processing_time_ms`` is given;
    - ``payment_succeeded`` / ``subscription_renewed`` → counter ``revenue_cents.<plan>.<source>`` increased
    by
      the amount in cents (rounded half to even);
    - ``email_*`` → counter ``email.<status>.<email_type>``;
    - ``conversion_offer_viewed`` / ``paid_upgrade_clicked`` with ``test_id`` and ``variant`` → counters
      ``ab.exposures`` / ``ab.conversions`` ``.<test_id>.<variant>``.

    Each label (event type, step, plan, source, e-mail type, test, variant) takes at most
    :data:`MAX_LABEL_VALUES` distinct values per process; later new values are sent as ``other``.

    Parameters
    ----------
    event:
        An :class:`analytics.events.Event` or a mapping with ``event_type`` and ``event_data``.
    metrics:
        The client; default :func:`get_metrics`.
    """
    m = metrics or get_metrics()
    if isinstance(event, Mapping):
        event_type = str(event.get("event_type"))
        data = event.get("event_data") or {}
    else:
        event_type, data = event.event_type, event.event_data or {}
    m.incr(_label("event_type", event_type))
    if event_type == "page_load_timing":
        ms = _number(data.get("load_time_ms"))
        if ms is not None:
            m.timing("load_time", ms)
    elif event_type == "step_load_timing":
        ms = _number(data.get("load_time_ms"))
        if ms is not None:
            m.timing(f"step_load_time.{_label('step', data.get('step'))}", ms)
    elif event_type == "calculator_step_completed":
        m.incr(f"funnel.step_completed.{_label('step', data.get('step'))}")
    elif event_type in _EMAIL:
        m.incr(f"email.{_EMAIL[event_type]}.{_label('email_type', data.get('email_type'))}")
    elif event_type in ("conversion_offer_viewed", "paid_upgrade_clicked"):
        if data.get("test_id") is not None and data.get("variant") is not None:
            kind = "exposures" if event_type == "conversion_offer_viewed" else "conversions"
            m.incr(f"ab.{kind}.{_label('test_id', data['test_id'])}.{_label('variant', data['variant'])}")
    if event_type in _PAYMENT:
        outcome = _PAYMENT[event_type]
        m.incr(f"payments.{outcome}.{_label('plan', data.get('plan'))}")
        ms = _number(data.get("processing_time_ms"))
        if ms is not None:
            m.timing(f"payment.processing_time.{outcome}", ms)
    if event_type in _REVENUE:
        amount = _number(data.get("amount"))
        if amount is not None:
            cents = round(amount * 100)
            m.incr(f"revenue_cents.{_label('plan', data.get('plan'))}.{_label('source', data.get('source'))}",
                   cents)


def emit_api_request(route: str, method: str, status: int, duration_ms: float,
                     metrics: Metrics | None = None) -> None:
    """Send one served request: timer ``api.response_time.<route>.<method>`` and counter
    ``api.requests.<route>.<method>.<status>`` (route as templated by the router, e.g.
    ``/api/analytics/event``).
    """
    m = metrics or get_metrics()
    upper = method.upper()
    r, meth = _label("route", route), metric_component(upper if upper in _HTTP_METHODS else "other")
    m.timing(f"api.response_time.{r}.{meth}", duration_ms)
    m.incr(f"api.requests.{r}.{meth}.{int(status)}")


def emit_conversion_rate(rate: float, metrics: Metrics | None = None) -> None:
    """Set gauge ``conversion_rate`` (a proportion in [0, 1]); a rate outside it or not finite is dropped."""
    value = _number(rate)
    if value is not None and value <= 1:
        (metrics or get_metrics()).gauge("conversion_rate", value)
