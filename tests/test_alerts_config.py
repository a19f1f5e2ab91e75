"""Alert config file overrides, new rules, silences, durations, and exact error messages."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from analytics.alerts import DEFAULT_RULES, ObservationSource, load_config, parse_duration
from analytics.errors import ConfigError
from analytics.events import validate_event
from analytics.performance import Metrics, PerformanceMonitor, TimingRecord
from analytics.storage import write_events


def _write(tmp_path, text):
    path = tmp_path / "alerts.yml"
    path.write_text(text)
    return path


def test_no_file_gives_defaults(monkeypatch):
    monkeypatch.delenv("ALERT_RULES_FILE", raising=False)
    cfg = load_config()
    assert cfg.rules == DEFAULT_RULES and cfg.silences == () and cfg.repeat_seconds == 14400


def test_overrides_disable_add_and_silence(tmp_path, monkeypatch):
    path = _write(tmp_path, """
repeat_interval: 30m
rules:
  calculator_load_slow: {threshold: 2500, recovery: 2000, for: 2m, channels: [slack, email]}
  cpu_high: {enabled: false}
  checkout_errors: {metric: api_error_rate, threshold: 0.02, severity: critical, channels: [pagerduty],
                    min_count: 20, repeat_interval: 1h}
silences:
  - {matchers: ["memory_*"], starts_at: "2026-03-01T02:00:00+01:00", ends_at: "2026-03-01T04:00:00Z",
     comment: kernel upgrade}
""")
    monkeypatch.setenv("ALERT_RULES_FILE", str(path))
    cfg = load_config()
    rules = {r.name: r for r in cfg.rules}
    assert cfg.repeat_seconds == 1800
    load = rules["calculator_load_slow"]
    assert (load.threshold, load.recovery, load.for_seconds, load.channels) == (2500, 2000, 120.0,
                                                                                ("slack", "email"))
    assert load.metric == "calculator_load_p95_ms" and load.severity == "warning"
    assert "cpu_high" not in rules and "cpu_critical" in rules
    new = rules["checkout_errors"]
    assert (new.metric, new.threshold, new.severity, new.min_count, new.repeat_seconds) == (
        "api_error_rate", 0.02, "critical", 20, 3600.0)
    (s,) = cfg.silences
    assert s.starts_at == datetime(2026, 3, 1, 1, 0) and s.ends_at == datetime(2026, 3, 1, 4, 0)
    assert s.silences("memory_high", datetime(2026, 3, 1, 3, 0)) and not s.silences("cpu_high",
                                                                                     datetime(2026, 3, 1, 3))


@pytest.mark.parametrize(("text", "message"), [
    ("rules: {cpu_high: {thresold: 1}}",
     "rules.cpu_high.thresold is not a rule setting (expected one of channels, description, for, group, "
     "metric, min_count, recovery, repeat_interval, severity, threshold, window, enabled)"),
    ("rules: {cpu_high: {for: soon}}",
     "rules.cpu_high.for must be a duration like 30s, 5m, 4h or a number of seconds (got 'soon')"),
    ("rules: {cpu_high: {recovery: 95}}",
     "rules.cpu_high: 'recovery' must not be above 'threshold' (got recovery=95, threshold=70 in rule "
     "'cpu_high')"),
    ("rules: {mine: {threshold: 3}}", "rules.mine is a new rule and needs metric"),
    ("rules: {cpu_high: {channels: slack}}", "rules.cpu_high.channels must be a list of channel names "
     "(got 'slack')"),
    ("rules: {cpu_high: {threshold: high}}", "rules.cpu_high.threshold must be a number (got 'high')"),
    ("alerts: {}", "alert config has unknown keys ['alerts'] (expected rules, silences, repeat_interval)"),
    ("silences: [{matchers: [x], starts_at: yesterday, ends_at: 2026-01-01}]",
     "silences[0].starts_at must be an ISO 8601 time (got 'yesterday')"),
])
def test_config_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, text))
    assert str(exc.value) == message


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "missing.yml")
    assert str(exc.value) == f"alert config {str(tmp_path / 'missing.yml')!r} cannot be read (No such file or directory)"
    with pytest.raises(ConfigError, match="is not valid YAML/JSON"):
        load_config(_write(tmp_path, "rules: [unclosed"))


@pytest.mark.parametrize(("value", "seconds"), [(30, 30.0), ("45s", 45.0), ("5m", 300.0), ("4h", 14400.0),
                                                ("1d", 86400.0), ("1.5m", 90.0), ("10", 10.0)])
def test_parse_duration(value, seconds):
    assert parse_duration(value, "x") == seconds


NOW = datetime(2026, 3, 10, 12, 0)
EPOCH = datetime(1970, 1, 1)


def test_observation_source(engine):
    mon = PerformanceMonitor(metrics=Metrics("127.0.0.1", 9))
    at = (NOW - EPOCH).total_seconds() - 30
    for ms, status in [(100.0, 200), (200.0, 500), (300.0, 200), (400.0, 200)]:
        mon.timings.add(TimingRecord(at, "api", "POST /e", ms, status < 500))
        mon.timings.add(TimingRecord(at, "db_query", "q", ms * 10))
    mon.timings.add(TimingRecord(at - 3600, "api", "POST /e", 9999.0, False))  # outside a 5-minute window
    events = [validate_event({"event_type": "page_load_timing", "session_id": f"s{i}",
                              "timestamp": (NOW - timedelta(seconds=10 * i + 1)).isoformat(),
                              "event_data": {"load_time_ms": 1000.0 * (i + 1)}}, now=NOW) for i in range(5)]
    events.append(validate_event({"event_type": "client_error", "session_id": "s0", "timestamp":
                                  (NOW - timedelta(seconds=5)).isoformat(), "event_data": {"message": "x"}},
                                 now=NOW))
    write_events(engine, events)
    src = ObservationSource(mon, engine)
    obs = src("api_error_rate", 300, NOW)
    assert (obs.value, obs.count) == (0.25, 4)
    obs = src("api_response_p95_ms", 300, NOW)
    assert (obs.value, obs.count) == (pytest.approx(385.0), 4)  # numpy.percentile([100,200,300,400], 95)
    obs = src("db_query_p95_ms", 300, NOW)
    assert (obs.value, obs.count) == (pytest.approx(3850.0), 4)
    obs = src("calculator_load_p95_ms", 300, NOW)
    assert (obs.value, obs.count) == (pytest.approx(4800.0), 5)  # percentile([1000..5000], 95)
    obs = src("client_error_rate", 300, NOW)
    assert (obs.value, obs.count) == (0.2, 5)
    obs = src("memory_percent", 300, NOW)
    assert (obs.value, obs.count) == (None, 0)
