"""Alert channels: Slack incoming webhook, PagerDuty Events API v2, SMTP email.

Each channel builds its payload from a :class:`Notification` (:meth:`payload`) and sends it (:meth:`send`),
raising :class:`ChannelError` with ``retryable`` set for timeouts, connection failures, HTTP 429 and 5xx (the
dispatcher retries those with backoff) and cleared for permanent refusals (HTTP 4xx, rejected recipients).
"""

from __future__ import annotations

import json
import os
import smtplib
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC
from email.message import EmailMessage
from typing import Any, Protocol

from analytics.alerts.engine import RESOLVED, Notification
from analytics.errors import AnalyticsError

__all__ = ["Channel", "ChannelError", "EmailChannel", "PagerDutyChannel", "SlackChannel", "channels_from_env"]

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_COLORS = {"critical": "#d00000", "warning": "#daa038", RESOLVED: "#2eb886"}


class ChannelError(AnalyticsError):
    """A send failed; ``retryable``: whether trying again may help; ``retry_after``: the server's hint."""

    def __init__(self, channel: str, message: str, retryable: bool, retry_after: float | None = None) -> None:
        self.channel = channel
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(f"{channel}: {message}")


class Channel(Protocol):
    name: str

    def payload(self, n: Notification) -> dict[str, Any]: ...

    def send(self, n: Notification) -> dict[str, Any]: ...


def _post_json(channel: str, url: str, body: dict[str, Any], timeout: float) -> tuple[int, str]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured https/loopback URL
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")[:300]
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        try:
            hint = float(retry_after) if retry_after is not None else None
        except ValueError:
            hint = None
        retryable = exc.code == 429 or exc.code >= 500
        raise ChannelError(channel, f"HTTP {exc.code} {text}".strip(), retryable, hint) from None
    except TimeoutError as exc:
        raise ChannelError(channel, f"timed out after {timeout:g} s ({exc})", True) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ChannelError(channel, f"cannot connect ({getattr(exc, 'reason', exc)})", True) from None


class SlackChannel:
    """Slack incoming webhook (``ALERT_WEBHOOK_URL``): ``text`` plus one coloured attachment with fields."""

    name = "slack"

    def __init__(self, webhook_url: str, timeout: float = 5.0) -> None:
        self.webhook_url = webhook_url
        self.timeout = timeout

    def payload(self, n: Notification) -> dict[str, Any]:
        r = n.rule
        fields = [
            {"title": "Severity", "value": r.severity, "short": True},
            {"title": "Value", "value": "no data" if n.value is None else f"{n.value:.4g}", "short": True},
            {"title": "Threshold", "value": f"{r.threshold:g}", "short": True},
            {"title": "Recovery", "value": f"{r.recovery_level:g}", "short": True},
        ]
        if n.started_at is not None:
            fields.append({"title": "Firing since", "value": n.started_at.isoformat() + "Z", "short": False})
        return {
            "text": n.summary,
            "attachments": [{
                "color": _COLORS[RESOLVED if n.kind == RESOLVED else r.severity],
                "title": f"{r.name} ({n.kind})",
                "text": r.description or r.metric,
                "fields": fields,
                "footer": "ai_calculator alerts",
                "ts": int(n.at.replace(tzinfo=UTC).timestamp()),
            }],
        }

    def send(self, n: Notification) -> dict[str, Any]:
        body = self.payload(n)
        status, text = _post_json(self.name, self.webhook_url, body, self.timeout)
        if status != 200:
            raise ChannelError(self.name, f"unexpected HTTP {status} {text[:200]}", False)
        return body


class PagerDutyChannel:
    """PagerDuty Events API v2: ``trigger`` (first and repeat, same ``dedup_key``) and ``resolve``."""

    name = "pagerduty"

    def __init__(self, routing_key: str, url: str = PAGERDUTY_EVENTS_URL, timeout: float = 5.0,
                 source: str | None = None) -> None:
        self.routing_key = routing_key
        self.url = url
        self.timeout = timeout
        self.source = source or socket.gethostname()

    def payload(self, n: Notification) -> dict[str, Any]:
        if n.kind == RESOLVED:
            return {"routing_key": self.routing_key, "event_action": "resolve", "dedup_key": n.dedup_key}
        r = n.rule
        return {
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "dedup_key": n.dedup_key,
            "payload": {
                "summary": n.summary[:1024],
                "source": self.source,
                "severity": r.severity,
                "timestamp": n.at.isoformat(timespec="seconds") + "Z",
                "component": "ai_calculator",
                "group": r.inhibit_group,
                "class": r.metric,
                "custom_details": {"value": n.value, "threshold": r.threshold, "recovery": r.recovery_level,
                                   "for_seconds": r.for_seconds, "window_seconds": r.window_seconds,
                                   "kind": n.kind},
            },
        }

    def send(self, n: Notification) -> dict[str, Any]:
        body = self.payload(n)
        status, text = _post_json(self.name, self.url, body, self.timeout)
        if status != 202:
            raise ChannelError(self.name, f"unexpected HTTP {status} {text[:200]}", False)
        return body


class EmailChannel:
    """SMTP email, one message per notification to all ``recipients`` (STARTTLS and login when configured)."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str],
                 username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.recipients = host, port, sender, list(recipients)
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def payload(self, n: Notification) -> dict[str, Any]:
        r = n.rule
        lines = [n.summary, "", f"Rule: {r.name}", f"Severity: {r.severity}", f"Metric: {r.metric}",
                 f"Value: {'no data' if n.value is None else f'{n.value:.4g}'}",
                 f"Threshold: {r.threshold:g}",
                 f"Recovery: {r.recovery_level:g}", f"At: {n.at.isoformat()}Z"]
        return {"from": self.sender, "to": self.recipients, "subject": n.summary[:200],
                "body": "\n".join(lines)}

    def send(self, n: Notification) -> dict[str, Any]:
        body = self.payload(n)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = body["from"], ", ".join(body["to"]), body["subject"]
        msg.set_content(body["body"])
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                smtplib.SMTPAuthenticationError) as exc:
            raise ChannelError(self.name, f"refused: {exc}", False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(self.name, f"SMTP failure: {exc}", True) from None
        return body


def channels_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Channel]:
    """The channels whose settings are present: ``ALERT_WEBHOOK_URL`` (Slack), ``PAGERDUTY_API_KEY`` (routing
    key; ``PAGERDUTY_EVENTS_URL`` overrides the endpoint), ``SMTP_HOST``/``SMTP_PORT``/``SMTP_USER``/
    ``SMTP_PASSWORD``/``SMTP_STARTTLS`` with ``ALERT_EMAIL_FROM`` and comma-separated ``ALERT_EMAIL_TO``."""
    env = os.environ if environ is None else environ
    out: dict[str, Channel] = {}
    if env.get("ALERT_WEBHOOK_URL"):
        out["slack"] = SlackChannel(env["ALERT_WEBHOOK_URL"])
    if env.get("PAGERDUTY_API_KEY"):
        out["pagerduty"] = PagerDutyChannel(env["PAGERDUTY_API_KEY"],
                                            env.get("PAGERDUTY_EVENTS_URL") or PAGERDUTY_EVENTS_URL)
    if env.get("SMTP_HOST") and env.get("ALERT_EMAIL_TO"):
        out["email"] = EmailChannel(
            env["SMTP_HOST"], int(env.get("SMTP_PORT") or 25),
            env.get("ALERT_EMAIL_FROM") or "alerts@localhost",
            [a.strip() for a in env["ALERT_EMAIL_TO"].split(",") if a.strip()], env.get("SMTP_USER") or None,
            env.get("SMTP_PASSWORD") or None,
            (env.get("SMTP_STARTTLS") or "").lower() in ("1", "true", "yes"))
    return out
