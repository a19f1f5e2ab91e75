"""The alert state machine: inactive → pending → firing → resolved, with repeat, silences and inhibition.

Semantics follow Prometheus alerting rules and Alertmanager:

- ``inactive``/``resolved`` → ``pending`` when the value rises above the threshold; → ``firing`` once it has
  stayed above for ``for_seconds`` (immediately if 0); a pending alert whose value drops back, or whose data
  become insufficient (fewer than ``min_count`` observations), returns to ``inactive``.
- ``firing`` → ``resolved`` only when the value is at or below the rule's recovery level (hysteresis);
  insufficient data keep it firing (no evidence of recovery). ``resolved`` becomes ``inactive`` on the next
  evaluation unless it breaches again.
- A firing alert is notified once, then again every repeat interval while it fires, unless silenced or
  inhibited (a firing ``critical`` rule of the same group mutes its ``warning`` rules). A resolved message is
  sent
  when an alert whose firing message went out clears — even during a silence, so paging incidents close.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analytics.alerts.rules import AlertRule, Silence

__all__ = ["AlertEngine", "AlertStatus", "Notification", "Observation"]

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"


@dataclass(frozen=True)
class Observation:
    """A metric's value over a rule's window and the number of observations behind it (None: no data)."""

    value: float | None
    count: int = 1


@dataclass(frozen=True)
class Notification:
    """A message to send: ``kind`` is ``firing`` (first), ``repeat`` or ``resolved``."""

    rule: AlertRule
    kind: str
    value: float | None
    at: datetime
    started_at: datetime | None

    @property
    def state(self) -> str:
        return RESOLVED if self.kind == RESOLVED else FIRING

    @property
    def dedup_key(self) -> str:
        """Stable per rule, so PagerDuty's trigger, repeats and resolve address one incident."""
        return f"ai-calculator/{self.rule.name}"

    @property
    def summary(self) -> str:
        r = self.rule
        shown = "no data" if self.value is None else f"{self.value:.4g}"
        if self.kind == RESOLVED:
            return (f"[RESOLVED] {r.name}: {r.description or r.metric} — now {shown} "
                    f"(recovery {r.recovery_level:g})")
        return f"[{r.severity.upper()}] {r.name}: {r.description or r.metric} — {shown} > {r.threshold:g}"


@dataclass
class AlertStatus:
    """Where one rule stands (mutable, owned by the engine)."""

    rule: AlertRule
    state: str = INACTIVE
    value: float | None = None
    pending_since: datetime | None = None
    firing_since: datetime | None = None
    last_sent: datetime | None = None
    notified: bool = False
    history: list[tuple[datetime, str]] = field(default_factory=list)


class AlertEngine:
    """Evaluates rules against observations at times given by a clock.

    Parameters
    ----------
    rules:
        The rules (names must be unique).
    source:
        ``source(metric, window_seconds, now) -> Observation``.
    clock:
        Returns "now" as naive UTC (tests pass a controllable clock).
    repeat_seconds:
        Default re-send interval while firing.
    silences:
        Initial silences; more with :meth:`add_silence`.
    """

    def __init__(self, rules: Iterable[AlertRule], source: Callable[[str, float, datetime], Observation],
                 clock: Callable[[], datetime], repeat_seconds: float = 4 * 3600.0,
                 silences: Iterable[Silence] = ()) -> None:
        self.status = {r.name: AlertStatus(r) for r in rules}
        self.source = source
        self.clock = clock
        self.repeat = timedelta(seconds=repeat_seconds)
        self.silences = list(silences)

    def add_silence(self, silence: Silence) -> None:
        self.silences.append(silence)

    def silenced(self, name: str, at: datetime) -> bool:
        return any(s.silences(name, at) for s in self.silences)

    def _step(self, st: AlertStatus, obs: Observation, now: datetime) -> bool:
        """Advance one rule; True when it just resolved."""
        rule = st.rule
        enough = obs.value is not None and obs.count >= rule.min_count
        breaching = enough and obs.value > rule.threshold
        st.value = obs.value
        before = st.state
        if st.state in (INACTIVE, RESOLVED, PENDING):
            if not breaching:
                st.state, st.pending_since = INACTIVE, None
            else:
                if st.state != PENDING:
                    st.state, st.pending_since = PENDING, now
                if now - st.pending_since >= timedelta(seconds=rule.for_seconds):
                    st.state, st.firing_since = FIRING, now
        elif st.state == FIRING and enough and obs.value <= rule.recovery_level:
            st.state, st.pending_since = RESOLVED, None
        if st.state != before:
            st.history.append((now, st.state))
        return before == FIRING and st.state == RESOLVED

    def evaluate(self) -> list[Notification]:
        """Observe every rule once, advance the states and return the notifications due now."""
        now = self.clock()
        cache: dict[tuple[str, float], Observation] = {}
        just_resolved: list[AlertStatus] = []
        for st in self.status.values():
            key = (st.rule.metric, st.rule.window_seconds)
            if key not in cache:
                cache[key] = self.source(key[0], key[1], now)
            if self._step(st, cache[key], now):
                just_resolved.append(st)
        critical_groups = {st.rule.inhibit_group for st in self.status.values()
                           if st.state == FIRING and st.rule.severity == "critical"}
        out: list[Notification] = []
        for st in self.status.values():
            if st.state != FIRING:
                continue
            rule = st.rule
            if self.silenced(rule.name, now) or (
                    rule.severity == "warning" and rule.inhibit_group in critical_groups):
                continue
            repeat = self.repeat if rule.repeat_seconds is None else timedelta(seconds=rule.repeat_seconds)
            if not st.notified or now - st.last_sent >= repeat:
                out.append(Notification(rule, "repeat" if st.notified else FIRING, st.value, now,
                                        st.firing_since))
                st.notified, st.last_sent = True, now
        for st in just_resolved:
            if st.notified:
                out.append(Notification(st.rule, RESOLVED, st.value, now, st.firing_since))
            st.notified, st.last_sent, st.firing_since = False, None, None
        return out

    def states(self) -> dict[str, str]:
        """Rule name → current state."""
        return {name: st.state for name, st in self.status.items()}
