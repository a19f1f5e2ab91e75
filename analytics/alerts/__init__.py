"""Alerting: threshold rules with pending/firing/resolved states, silences, inhibition, and channels
(Slack webhook, PagerDuty Events API v2, SMTP email) with retry and a record in ``alert_log``."""

from analytics.alerts.channels import (
    Channel,
    ChannelError,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    channels_from_env,
)
from analytics.alerts.config import AlertConfig, load_config, parse_duration
from analytics.alerts.dispatch import Delivery, Dispatcher
from analytics.alerts.engine import AlertEngine, AlertStatus, Notification, Observation
from analytics.alerts.log import read_alert_log
from analytics.alerts.observe import ObservationSource
from analytics.alerts.rules import DEFAULT_RULES, METRIC_NAMES, SEVERITIES, AlertRule, Silence
from analytics.alerts.runner import AlertRunner

__all__ = [
    "DEFAULT_RULES",
    "METRIC_NAMES",
    "SEVERITIES",
    "AlertConfig",
    "AlertEngine",
    "AlertRule",
    "AlertRunner",
    "AlertStatus",
    "Channel",
    "ChannelError",
    "Delivery",
    "Dispatcher",
    "EmailChannel",
    "Notification",
    "Observation",
    "ObservationSource",
    "PagerDutyChannel",
    "Silence",
    "SlackChannel",
    "channels_from_env",
    "load_config",
    "parse_duration",
    "read_alert_log",
]
