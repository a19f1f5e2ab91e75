"""Alert states with a controllable clock: pending, firing, repeat, hysteresis, min count, silences, inhibition."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from analytics.alerts import DEFAULT_RULES, AlertEngine, AlertRule, Observation, Silence
from analytics.errors import InvalidParameterError

T0 = datetime(2026, 3, 1, 12, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


class Values:
    """Metric → Observation, set by the test."""

    def __init__(self) -> None:
        self.obs: dict[str, Observation] = {}
        self.calls: list[tuple[str, float, datetime]] = []

    def set(self, metric: str, value: float | None, count: int = 100) -> None:
        self.obs[metric] = Observation(value, count)

    def __call__(self, metric: str, window: float, now: datetime) -> Observation:
        self.calls.append((metric, window, now))
        return self.obs.get(metric, Observation(None, 0))


LOAD = AlertRule("load_slow", "calculator_load_p95_ms", 3000, 2500, for_seconds=300, severity="warning",
                 channels=("slack",), repeat_seconds=3600)
LOAD_CRIT = AlertRule("load_critical", "calculator_load_p95_ms", 6000, 5000, for_seconds=60,
                      severity="critical", channels=("pagerduty",))


def _engine(*rules, silences=()):
    clock, values = Clock(), Values()
    return AlertEngine(rules, values, clock, repeat_seconds=4 * 3600, silences=silences), clock, values


def _kinds(notes):
    return [(n.rule.name, n.kind) for n in notes]


def test_pending_then_firing_after_for_duration():
    eng, clock, v = _engine(LOAD)
    v.set("calculator_load_p95_ms", 3500)
    assert eng.evaluate() == [] and eng.states() == {"load_slow": "pending"}
    clock.advance(seconds=299)
    assert eng.evaluate() == [] and eng.states()["load_slow"] == "pending"
    clock.advance(seconds=1)
    notes = eng.evaluate()
    assert _kinds(notes) == [("load_slow", "firing")]
    assert notes[0].value == 3500 and notes[0].started_at == T0 + timedelta(seconds=300)
    assert notes[0].dedup_key == "ai-calculator/load_slow"
    assert notes[0].summary == "[WARNING] load_slow: calculator_load_p95_ms — 3500 > 3000"


def test_pending_resets_when_condition_clears():
    eng, clock, v = _engine(LOAD)
    v.set("calculator_load_p95_ms", 3500)
    eng.evaluate()
    clock.advance(seconds=200)
    v.set("calculator_load_p95_ms", 2900)
    eng.evaluate()
    assert eng.states()["load_slow"] == "inactive"
    v.set("calculator_load_p95_ms", 3500)
    clock.advance(seconds=200)
    eng.evaluate()  # pending again from here: 200 s more are not enough
    clock.advance(seconds=200)
    assert eng.evaluate() == []
    clock.advance(seconds=100)
    assert _kinds(eng.evaluate()) == [("load_slow", "firing")]


def test_repeat_interval_and_resolve_with_hysteresis():
    eng, clock, v = _engine(LOAD)
    v.set("calculator_load_p95_ms", 3500)
    eng.evaluate()
    clock.advance(minutes=5)
    assert _kinds(eng.evaluate()) == [("load_slow", "firing")]
    clock.advance(minutes=59)
    assert eng.evaluate() == []
    clock.advance(minutes=1)
    assert _kinds(eng.evaluate()) == [("load_slow", "repeat")]
    # hovering between recovery (2500) and threshold (3000): still firing, no flapping
    for value in (2900, 3100, 2600, 2501):
        v.set("calculator_load_p95_ms", value)
        clock.advance(minutes=1)
        assert eng.evaluate() == [] and eng.states()["load_slow"] == "firing"
    v.set("calculator_load_p95_ms", 2500)
    clock.advance(minutes=1)
    notes = eng.evaluate()
    assert _kinds(notes) == [("load_slow", "resolved")]
    assert notes[0].summary == "[RESOLVED] load_slow: calculator_load_p95_ms — now 2500 (recovery 2500)"
    assert eng.states()["load_slow"] == "resolved"
    clock.advance(minutes=1)
    assert eng.evaluate() == [] and eng.states()["load_slow"] == "inactive"
    history = [s for _, s in eng.status["load_slow"].history]
    assert history == ["pending", "firing", "resolved", "inactive"]


def test_for_zero_fires_immediately():
    rule = AlertRule("mem", "memory_percent", 80, 75, for_seconds=0)
    eng, clock, v = _engine(rule)
    v.set("memory_percent", 81)
    assert _kinds(eng.evaluate()) == [("mem", "firing")]


def test_min_count_blocks_firing_and_keeps_firing_alert():
    rule = AlertRule("err", "api_error_rate", 0.05, 0.04, for_seconds=0, min_count=50)
    eng, clock, v = _engine(rule)
    v.set("api_error_rate", 0.5, count=10)  # 5 of 10 failed: too few requests to judge
    assert eng.evaluate() == [] and eng.states()["err"] == "inactive"
    v.set("api_error_rate", 0.06, count=50)
    assert _kinds(eng.evaluate()) == [("err", "firing")]
    v.set("api_error_rate", 0.0, count=3)  # not enough data to call it recovered
    clock.advance(minutes=1)
    assert eng.evaluate() == [] and eng.states()["err"] == "firing"
    v.set("api_error_rate", None, count=0)
    clock.advance(minutes=1)
    assert eng.evaluate() == [] and eng.states()["err"] == "firing"
    v.set("api_error_rate", 0.01, count=80)
    clock.advance(minutes=1)
    assert _kinds(eng.evaluate()) == [("err", "resolved")]


def test_silence_mutes_then_sends_when_it_ends():
    silence = Silence(("load_*",), T0, T0 + timedelta(minutes=30), "deploy")
    eng, clock, v = _engine(AlertRule("load_slow", "calculator_load_p95_ms", 3000, for_seconds=0),
                            silences=[silence])
    v.set("calculator_load_p95_ms", 4000)
    assert eng.evaluate() == [] and eng.states()["load_slow"] == "firing"
    clock.advance(minutes=29)
    assert eng.evaluate() == []
    clock.advance(minutes=1)
    assert _kinds(eng.evaluate()) == [("load_slow", "firing")]


def test_resolved_is_sent_only_after_a_firing_message():
    silence = Silence(("*",), T0, T0 + timedelta(hours=1))
    eng, clock, v = _engine(AlertRule("load_slow", "calculator_load_p95_ms", 3000, for_seconds=0),
                            silences=[silence])
    v.set("calculator_load_p95_ms", 4000)
    eng.evaluate()
    v.set("calculator_load_p95_ms", 1000)
    clock.advance(minutes=1)
    assert eng.evaluate() == [] and eng.states()["load_slow"] == "resolved"


def test_critical_inhibits_warning_of_same_group():
    eng, clock, v = _engine(LOAD, LOAD_CRIT)
    v.set("calculator_load_p95_ms", 7000)
    assert eng.evaluate() == []
    clock.advance(seconds=60)
    assert _kinds(eng.evaluate()) == [("load_critical", "firing")]  # warning still pending (for 300 s)
    clock.advance(seconds=240)
    assert eng.evaluate() == [] and eng.states() == {"load_slow": "firing", "load_critical": "firing"}
    v.set("calculator_load_p95_ms", 4000)  # critical resolves, warning still breaching
    clock.advance(seconds=60)
    assert _kinds(eng.evaluate()) == [("load_slow", "firing"), ("load_critical", "resolved")]


def test_observation_cached_per_metric_and_window():
    eng, clock, v = _engine(LOAD, LOAD_CRIT)
    eng.evaluate()
    assert v.calls == [("calculator_load_p95_ms", 300.0, T0)]


def test_defaults_hold_the_seed_thresholds():
    warn = {r.metric: r.threshold for r in DEFAULT_RULES if r.severity == "warning"}
    assert warn == {"calculator_load_p95_ms": 3000, "db_query_p95_ms": 1000, "api_response_p95_ms": 2000,
                    "api_error_rate": 0.05, "client_error_rate": 0.05, "memory_percent": 80, "cpu_percent": 70}
    assert all(r.recovery_level < r.threshold for r in DEFAULT_RULES)
    assert len({r.name for r in DEFAULT_RULES}) == len(DEFAULT_RULES)


def test_rule_validation_messages():
    with pytest.raises(InvalidParameterError) as exc:
        AlertRule("x", "disk", 1)
    assert str(exc.value).startswith("'metric' must be one of calculator_load_p95_ms, ")
    assert str(exc.value).endswith("(got metric='disk' in rule 'x')")
    with pytest.raises(InvalidParameterError) as exc:
        AlertRule("x", "cpu_percent", 70, 80)
    assert str(exc.value) == "'recovery' must not be above 'threshold' (got recovery=80, threshold=70 in rule 'x')"
    with pytest.raises(InvalidParameterError) as exc:
        AlertRule("x", "cpu_percent", 70, severity="page")
    assert str(exc.value) == "'severity' must be 'warning' or 'critical' (got severity='page' in rule 'x')"
    with pytest.raises(InvalidParameterError) as exc:
        Silence(("*",), T0, T0)
    assert str(exc.value) == ("'ends_at' must be after 'starts_at' "
                              "(got ends_at=2026-03-01T12:00:00, starts_at=2026-03-01T12:00:00)")
