"""Alert rules (the seed's thresholds as defaults) and silences.

A rule fires when its observed value stays above ``threshold`` for ``for_seconds`` (Prometheus' ``for:``), and
resolves only once the value falls to ``recovery`` or below — a lower line, so a value hovering at the
threshold
does not flap (hysteresis). Rules sharing a ``group`` inhibit each other: while a ``critical`` rule of the
group
fires, its ``warning`` siblings send nothing (Alertmanager's inhibition).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime

from analytics.errors import InvalidParameterError

__all__ = ["DEFAULT_RULES", "METRIC_NAMES", "SEVERITIES", "AlertRule", "Silence"]

SEVERITIES = ("warning", "critical")

#: Observation names a rule may watch (see :mod:`analytics.alerts.observe`).
METRIC_NAMES = (
    "calculator_load_p95_ms",
    "db_query_p95_ms",
    "api_response_p95_ms",
    "api_error_rate",
    "client_error_rate",
    "memory_percent",
    "cpu_percent",
)


@dataclass(frozen=True)
class AlertRule:
    """One threshold rule.

    Attributes
    ----------
    name:
        Unique rule name (also the alert's stable identity: PagerDuty ``dedup_key`` ``ai-calculator/<name>``).
    metric:
        Observation watched, one of :data:`METRIC_NAMES`.
    threshold:
        Fires when the value is strictly above it.
    recovery:
        Resolves when the value is at or below it; ``None`` means the threshold itself (no hysteresis).
    for_seconds:
        How long the condition must hold before firing (0: at once).
    window_seconds:
        How far back the observation looks (e.g. p95 of the last 5 minutes).
    severity:
        ``warning`` or ``critical``.
    channels:
        Channel names to notify (``slack``, ``pagerduty``, ``email``).
    min_count:
        Fewer observations than this (e.g. requests for an error rate) means "not enough data": a pending
        alert goes back to inactive and a firing one keeps firing until enough data shows recovery.
    group:
        Inhibition group; defaults to ``metric``.
    repeat_seconds:
        Re-send interval while firing; ``None`` uses the engine's default.
    description:
        Human sentence used in messages.
    """

    name: str
    metric: str
    threshold: float
    recovery: float | None = None
    for_seconds: float = 300.0
    window_seconds: float = 300.0
    severity: str = "warning"
    channels: tuple[str, ...] = ("slack",)
    min_count: int = 1
    group: str | None = None
    repeat_seconds: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidParameterError("name", "'name' must be a non-empty string (got name='')")
        if self.metric not in METRIC_NAMES:
            raise InvalidParameterError(
                "metric", f"'metric' must be one of {', '.join(METRIC_NAMES)} "
                f"(got metric={self.metric!r} in rule {self.name!r})")
        if self.severity not in SEVERITIES:
            raise InvalidParameterError(
                "severity", f"'severity' must be 'warning' or 'critical' "
                f"(got severity={self.severity!r} in rule {self.name!r})")
        if self.recovery is not None and self.recovery > self.threshold:
            raise InvalidParameterError(
                "recovery", f"'recovery' must not be above 'threshold' "
                f"(got recovery={self.recovery}, threshold={self.threshold} in rule {self.name!r})")
        for key in ("for_seconds", "window_seconds", "min_count"):
            if getattr(self, key) < 0:
                raise InvalidParameterError(
                    key, f"'{key}' must be >= 0 (got {key}={getattr(self, key)} in rule {self.name!r})")
        if self.window_seconds == 0:
            raise InvalidParameterError(
                "window_seconds",
                f"'window_seconds' must be > 0 (got window_seconds=0 in rule {self.name!r})")

    @property
    def recovery_level(self) -> float:
        return self.threshold if self.recovery is None else self.recovery

    @property
    def inhibit_group(self) -> str:
        return self.group or self.metric


@dataclass(frozen=True)
class Silence:
    """A maintenance window: rules whose name matches any glob in ``matchers`` send nothing in
    ``[starts_at, ends_at)`` (naive UTC). States still advance, so a still-firing alert is sent when it
    ends."""

    matchers: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = field(default="")

    def __post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise InvalidParameterError(
                "ends_at", f"'ends_at' must be after 'starts_at' "
                f"(got ends_at={self.ends_at.isoformat()}, starts_at={self.starts_at.isoformat()})")

    def silences(self, rule_name: str, at: datetime) -> bool:
        active = self.starts_at <= at < self.ends_at
        return active and any(fnmatch.fnmatchcase(rule_name, m) for m in self.matchers)


def _r(name: str, metric: str, threshold: float, recovery: float, severity: str, channels: tuple[str, ...],
       description: str, for_seconds: float = 300.0, min_count: int = 1) -> AlertRule:
    return AlertRule(name, metric, threshold, recovery, for_seconds, 300.0, severity, channels, min_count,
                     None, None, description)


_PAGE = ("slack", "pagerduty")

#: The seed's thresholds (warning) plus a critical level per metric that pages.
DEFAULT_RULES: tuple[AlertRule, ...] = (
    _r("calculator_load_slow", "calculator_load_p95_ms", 3000, 2500, "warning", ("slack",),
       "Calculator p95 load time above 3 s"),
    _r("calculator_load_critical", "calculator_load_p95_ms", 6000, 5000, "critical", _PAGE,
       "Calculator p95 load time above 6 s"),
    _r("database_query_slow", "db_query_p95_ms", 1000, 800, "warning", ("slack",),
       "Database query p95 above 1 s"),
    _r("api_response_slow", "api_response_p95_ms", 2000, 1600, "warning", ("slack",),
       "API response p95 above 2 s"),
    _r("error_rate_high", "api_error_rate", 0.05, 0.04, "warning", ("slack",),
       "API error rate (5xx) above 5 %", min_count=50),
    _r("error_rate_critical", "api_error_rate", 0.15, 0.10, "critical", _PAGE + ("email",),
       "API error rate (5xx) above 15 %", min_count=50),
    _r("client_error_rate_high", "client_error_rate", 0.05, 0.04, "warning", ("slack",),
       "Share of sessions with a client error above 5 %", for_seconds=600.0, min_count=50),
    _r("memory_high", "memory_percent", 80, 75, "warning", ("slack",), "Memory use above 80 %"),
    _r("memory_critical", "memory_percent", 90, 85, "critical", _PAGE, "Memory use above 90 %"),
    _r("cpu_high", "cpu_percent", 70, 60, "warning", ("slack",), "CPU use above 70 %", for_seconds=600.0),
    _r("cpu_critical", "cpu_percent", 90, 80, "critical", _PAGE, "CPU use above 90 %", for_seconds=600.0),
)
