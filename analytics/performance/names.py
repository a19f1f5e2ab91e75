"""The catalogue of statsd metrics the package emits, and the rule that makes a value safe in a metric name.

Every name is sent with the ``ai_calculator.`` prefix (the client adds it). The statsd_exporter mapping file
(``ops/statsd_exporter/mapping.yml``) turns each template into a labelled Prometheus metric; the Grafana
dashboards query only those (``tests/test_ops_grafana.py`` checks both against this catalogue).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["METRICS", "PREFIX", "MetricSpec", "metric_component"]

#: Prefix of every metric (the seed's ``ai_calculator.assessment_submitted`` and friends).
PREFIX = "ai_calculator"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_COMPONENT = 64


@dataclass(frozen=True)
class MetricSpec:
    """One statsd metric the code emits.

    Attributes
    ----------
    template:
        Name without the prefix; ``{label}`` marks one dot-free component filled with a label value.
    kind:
        ``counter`` (``|c``), ``timer`` (``|ms``) or ``gauge`` (``|g``).
    description:
        What it counts or measures and who emits it.
    examples:
        Label values used to build an example name (for the mapping and dashboard checks).
    """

    template: str
    kind: str
    description: str
    examples: tuple[tuple[str, str], ...] = ()

    def example_name(self) -> str:
        """The full statsd name with the example label values, e.g. ``ai_calculator.db.query_time.x``."""
        return f"{PREFIX}.{self.template.format(**dict(self.examples))}"


def metric_component(value: object) -> str:
    """Make ``value`` one safe statsd name component.

    Dots, colons, pipes, ``@``, slashes and whitespace would split or corrupt a statsd line, so every run of
    characters outside ``[A-Za-z0-9_-]`` becomes one ``_``; the result is trimmed of ``_`` at both ends,
    cut to 64 characters, and ``unknown`` when nothing is left.

    Examples
    --------
    >>> metric_component("/api/analytics/event")
    'api_analytics_event'
    >>> metric_component(None)
    'unknown'
    """
    if value is None:
        return "unknown"
    key = (type(value), value) if isinstance(value, str | int) else None  # bool/int/str: hashable, str() stable
    if key is not None and (hit := _COMPONENTS.get(key)) is not None:
        return hit
    text = _UNSAFE.sub("_", str(value)).strip("_")[:_MAX_COMPONENT] or "unknown"
    if key is not None:
        if len(_COMPONENTS) >= 4096:  # bounded: labels come from client data
            _COMPONENTS.clear()
        _COMPONENTS[key] = text
    return text


_COMPONENTS: dict[tuple[type, object], str] = {}


_EVENT_TYPES = (("event_type", "assessment_submitted"),)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("{event_type}", "counter",
               "One per stored event, named by its type (the seed's ai_calculator.assessment_submitted); "
               "emitted by the ingest sidecar via emit_event_metrics.", _EVENT_TYPES),
    MetricSpec("funnel.step_completed.{step}", "counter",
               "calculator_step_completed events by step number.", (("step", "3"),)),
    MetricSpec("load_time", "timer",
               "Calculator load time in ms: page_load_timing events and track_calculator_load_time()."),
    MetricSpec("step_load_time.{step}", "timer", "step_load_timing events by step, ms.", (("step", "2"),)),
    MetricSpec("db.query_time.{query}", "timer", "track_database_query(name) durations, ms.",
               (("query", "get_user_data"),)),
    MetricSpec("db.slow_queries.{query}", "counter", "Queries slower than the slow-query threshold.",
               (("query", "get_user_data"),)),
    MetricSpec("api.response_time.{route}.{method}", "timer", "API response time, ms (sidecar).",
               (("route", "api_analytics_event"), ("method", "POST"))),
    MetricSpec("api.requests.{route}.{method}.{status}", "counter", "API requests by HTTP status (sidecar).",
               (("route", "api_analytics_event"), ("method", "POST"), ("status", "202"))),
    MetricSpec("revenue_cents.{plan}.{source}", "counter",
               "Revenue in cents of payment_succeeded and subscription_renewed, by plan and traffic source.",
               (("plan", "premium"), ("source", "google"))),
    MetricSpec("ab.exposures.{test_id}.{variant}", "counter",
               "conversion_offer_viewed events carrying test_id and variant.",
               (("test_id", "offer_test"), ("variant", "control"))),
    MetricSpec("ab.conversions.{test_id}.{variant}", "counter",
               "paid_upgrade_clicked events carrying test_id and variant.",
               (("test_id", "offer_test"), ("variant", "control"))),
    MetricSpec("email.{status}.{email_type}", "counter",
               "email_sent / email_delivered / email_opened / email_bounced by email type.",
               (("status", "delivered"), ("email_type", "welcome"))),
    MetricSpec("payments.{outcome}.{plan}", "counter", "payment_succeeded / payment_failed by plan.",
               (("outcome", "succeeded"), ("plan", "premium"))),
    MetricSpec("payment.processing_time.{outcome}", "timer", "processing_time_ms of payment events.",
               (("outcome", "succeeded"),)),
    MetricSpec("conversion_rate", "gauge", "Conversion rate (0–1) reported by emit_conversion_rate."),
    MetricSpec("system.cpu_percent", "gauge", "System-wide CPU %, background sampler."),
    MetricSpec("system.memory_percent", "gauge", "System memory in use %, background sampler."),
    MetricSpec("process.cpu_percent", "gauge", "This process' CPU % (of one core), background sampler."),
    MetricSpec("process.rss_bytes", "gauge", "This process' resident memory, bytes, background sampler."),
)
