"""Sending notifications: every channel in parallel, retries with exponential backoff, a record of each send.

Each (notification, channel) pair runs in its own worker thread, so a channel that hangs until its timeout
or is being retried never delays the others. A retryable failure (timeout, connection error, HTTP 429/5xx)
is retried up to ``max_attempts`` times, waiting ``base_delay · factor^(attempt−1)`` seconds capped at
``max_delay`` (or the server's ``Retry-After``, also capped) — the "exponential backoff" of AWS' Architecture
Blog "Exponential Backoff and Jitter" (2015) without jitter, since one sender never stampedes a receiver.
Every final outcome is one row of ``alert_log``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert

from analytics.alerts.channels import Channel, ChannelError
from analytics.alerts.engine import Notification
from analytics.schema import alert_log

__all__ = ["Delivery", "Dispatcher"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one notification through one channel."""

    rule: str
    kind: str
    state: str
    severity: str
    channel: str
    value: float | None
    payload: dict[str, Any] | None
    sent_at: datetime
    ok: bool
    attempts: int
    error: str | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Dispatcher:
    """Sends notifications to their rule's channels and records what happened.

    Parameters
    ----------
    channels:
        Channel name → channel. A rule naming a channel that is not configured gets a failed, non-retried
        delivery with error ``channel '<name>' is not configured``.
    engine:
        Database for ``alert_log`` rows; ``None`` records nothing.
    max_attempts, base_delay, factor, max_delay:
        Retry policy (defaults 3 attempts, 0.5 s, ×2, 8 s).
    sleep, clock:
        Injectable for tests (``clock`` returns naive UTC).
    """

    def __init__(self, channels: Mapping[str, Channel], engine: Engine | None = None, max_attempts: int = 3,
                 base_delay: float = 0.5, factor: float = 2.0, max_delay: float = 8.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.channels = dict(channels)
        self.engine = engine
        self.max_attempts = max(1, int(max_attempts))
        self.base_delay, self.factor, self.max_delay = base_delay, factor, max_delay
        self.sleep, self.clock = sleep, clock

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if hint is not None and hint >= 0:
            return min(hint, self.max_delay)
        return min(self.base_delay * self.factor ** (attempt - 1), self.max_delay)

    def _deliver(self, n: Notification, name: str) -> Delivery:
        channel = self.channels.get(name)
        base = dict(rule=n.rule.name, kind=n.kind, state=n.state, severity=n.rule.severity, channel=name,
                    value=n.value)
        if channel is None:
            return Delivery(**base, payload=None, sent_at=self.clock(), ok=False, attempts=0,
                            error=f"channel {name!r} is not configured")
        payload = channel.payload(n)
        error: str | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                channel.send(n)
                return Delivery(**base, payload=payload, sent_at=self.clock(), ok=True, attempts=attempt)
            except ChannelError as exc:
                error = str(exc)
                if not exc.retryable or attempt == self.max_attempts:
                    break
                self.sleep(self.delay(attempt, exc.retry_after))
            except Exception as exc:  # noqa: BLE001 - a broken channel must not break the others
                error = f"{name}: {type(exc).__name__}: {exc}"
                break
        _log.warning("alert %s (%s) not delivered via %s: %s", n.rule.name, n.kind, name, error)
        return Delivery(**base, payload=payload, sent_at=self.clock(), ok=False, attempts=attempt,
                        error=error)

    def dispatch(self, notifications: Iterable[Notification]) -> list[Delivery]:
        """Send every notification to each of its channels (in parallel) and record the outcomes."""
        jobs = [(n, c) for n in notifications for c in n.rule.channels]
        if not jobs:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(jobs)), thread_name_prefix="alert-send") as pool:
            deliveries = list(pool.map(lambda job: self._deliver(*job), jobs))
        self.record(deliveries)
        return deliveries

    def record(self, deliveries: list[Delivery]) -> None:
        """Insert one ``alert_log`` row per delivery (a database failure is logged, never raised)."""
        if self.engine is None or not deliveries:
            return
        rows = [{"rule": d.rule, "state": d.state, "severity": d.severity, "channel": d.channel,
                 "value": d.value, "payload": {"kind": d.kind, "attempts": d.attempts, "body": d.payload},
                 "sent_at": d.sent_at, "ok": d.ok, "error": d.error} for d in deliveries]
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(alert_log), rows)
        except Exception:  # noqa: BLE001 - alerting must survive a database outage
            _log.exception("could not record %d alert deliveries", len(rows))
