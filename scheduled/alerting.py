"""Tell the alert channels (``analytics.alerts``, when installed and configured) that a run failed.

``analytics.alerts`` belongs to the monitoring area and may be absent; this module only calls it when it
can be imported and exposes a ``send_alert(summary, *, severity, source, details)`` function. Otherwise the
failure is logged, and the run's non-zero exit code and marked e-mail remain the signal.
"""

from __future__ import annotations

import logging

from .history import RunRecord

__all__ = ["alert_failure"]

log = logging.getLogger(__name__)


def alert_failure(record: RunRecord) -> str:
    """Send one alert for a failed run; returns ``sent``, ``unavailable`` or ``error: ...`` (never raises)."""
    summary = f"[WARNING] scheduled report {record.job} {record.period} failed: {record.error}"
    try:
        import analytics.alerts as alerts
    except ImportError:
        log.error("%s (analytics.alerts not available)", summary)
        return "unavailable"
    send = getattr(alerts, "send_alert", None)
    if send is None:
        log.error("%s (analytics.alerts has no send_alert)", summary)
        return "unavailable"
    try:
        send(
            summary,
            severity="warning",
            source="scheduled",
            details={
                "job": record.job,
                "period": record.period,
                "run_id": record.run_id,
                "files": record.files,
            },
        )
    except Exception as exc:  # noqa: BLE001 - alerting must not turn a failed run into a crash
        log.error("%s (alert not sent: %s)", summary, exc)
        return f"error: {exc}"
    return "sent"
