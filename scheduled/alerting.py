"""Tell the alert channels that a run failed, through :mod:`analytics.alerts` when it is importable.

The channels are those configured in the environment (``analytics.alerts.channels_from_env``: Slack webhook,
PagerDuty, alert e-mail); with none configured, or without :mod:`analytics.alerts`, the failure is only
logged, and the run's non-zero exit code and marked e-mail remain the signal. A report failure is not a
metric threshold, so the notification carries a small rule-like object (name ``scheduled_report_<job>``,
severity ``warning``) instead of an :class:`analytics.alerts.AlertRule`, whose metric must be a monitored one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from .history import RunRecord

__all__ = ["alert_failure"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _ReportRule:
    """The attributes of an alert rule that channels and notifications read."""

    name: str
    channels: tuple[str, ...]
    description: str
    metric: str = "scheduled_report_failed_parts"
    threshold: float = 0.0
    recovery_level: float = 0.0
    severity: str = "warning"
    group: str | None = None
    repeat_seconds: float | None = None

    @property
    def inhibit_group(self) -> str:
        return self.group or self.metric


def alert_failure(record: RunRecord, environ: Mapping[str, str] | None = None) -> str:
    """Send one alert for a failed run to every configured channel.

    Returns ``sent``, ``unavailable`` (no module or no channel) or ``error: ...``; never raises.
    """
    summary = f"scheduled report {record.job} {record.period} failed: {record.error}"
    try:
        from analytics.alerts import Dispatcher, Notification, channels_from_env
    except ImportError:
        log.error("%s (analytics.alerts not available)", summary)
        return "unavailable"
    try:
        channels = channels_from_env(environ)
        if not channels:
            log.error("%s (no alert channel configured)", summary)
            return "unavailable"
        failed = sum(1 for nb in record.notebooks if nb.get("status") != "ok")
        rule = _ReportRule(
            name=f"scheduled_report_{record.job}",
            channels=tuple(channels),
            description=f"report {record.job} {record.period}: {record.error}"[:300],
        )
        note = Notification(
            rule=rule,
            kind="firing",
            value=float(failed),  # type: ignore[arg-type]
            at=datetime.now(UTC).replace(tzinfo=None),
            started_at=None,
        )
        deliveries = Dispatcher(channels, engine=None).dispatch([note])
    except Exception as exc:  # noqa: BLE001 - alerting must not turn a failed run into a crash
        log.error("%s (alert not sent: %s)", summary, exc)
        return f"error: {exc}"
    bad = [f"{d.channel}: {d.error}" for d in deliveries if not d.ok]
    return f"error: {'; '.join(bad)}" if bad else "sent"
