"""Alert configuration file (YAML or JSON) overriding the default rules, adding rules and silences.

Example (``ALERT_RULES_FILE`` or an explicit path)::

    repeat_interval: 4h
    rules:
      calculator_load_slow: {threshold: 2500, for: 2m}
      cpu_high: {enabled: false}
      checkout_errors: {metric: api_error_rate, threshold: 0.02, severity: critical,
                        channels: [pagerduty], min_count: 20}
    silences:
      - {matchers: ["cpu_*"], starts_at: "2026-03-01T02:00:00Z", ends_at: "2026-03-01T04:00:00Z",
         comment: "kernel upgrade"}

Durations are seconds or strings with a unit (``30s``, ``5m``, ``4h``, ``1d``); times are ISO 8601 (naive =
UTC).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from analytics.alerts.rules import DEFAULT_RULES, AlertRule, Silence
from analytics.errors import ConfigError, InvalidParameterError

__all__ = ["AlertConfig", "load_config", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_KEYS = {"metric": "metric", "threshold": "threshold", "recovery": "recovery", "for": "for_seconds",
         "window": "window_seconds", "severity": "severity", "channels": "channels", "min_count": "min_count",
         "group": "group", "repeat_interval": "repeat_seconds", "description": "description"}
_DURATION_KEYS = {"for", "window", "repeat_interval"}


@dataclass(frozen=True)
class AlertConfig:
    """Rules, silences and the default repeat interval (seconds, default 4 h as in Alertmanager)."""

    rules: tuple[AlertRule, ...] = DEFAULT_RULES
    silences: tuple[Silence, ...] = ()
    repeat_seconds: float = 4 * 3600.0


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number or ``'<n><s|m|h|d>'``; raises :class:`ConfigError` naming ``where``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        raise ConfigError(f"{where} must be a duration like 30s, 5m, 4h or a number of seconds "
                          f"(got {value!r})")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"{where} must be an ISO 8601 time (got {value!r})") from None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _rule_fields(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in spec.items():
        where = f"rules.{name}.{key}"
        if key == "enabled":
            continue
        if key not in _KEYS:
            raise ConfigError(f"{where} is not a rule setting (expected one of {', '.join(sorted(_KEYS))}, "
                              "enabled)")
        if key in _DURATION_KEYS:
            value = parse_duration(value, where)
        elif key == "channels":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise ConfigError(f"{where} must be a list of channel names (got {value!r})")
            value = tuple(value)
        elif key in ("threshold", "recovery", "min_count") and (
                isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{where} must be a number (got {value!r})")
        out[_KEYS[key]] = value
    return out


def _build_rules(section: Any) -> tuple[AlertRule, ...]:
    if section is None:
        return DEFAULT_RULES
    if not isinstance(section, Mapping):
        raise ConfigError(f"rules must be a mapping of rule name to settings (got {type(section).__name__})")
    by_name = {r.name: r for r in DEFAULT_RULES}
    for name, spec in section.items():
        spec = spec or {}
        if not isinstance(spec, Mapping):
            raise ConfigError(f"rules.{name} must be a mapping (got {spec!r})")
        if spec.get("enabled", True) is False:
            by_name.pop(name, None)
            continue
        fields = _rule_fields(name, spec)
        try:
            if name in by_name:
                by_name[name] = dataclasses.replace(by_name[name], **fields)
            else:
                missing = [k for k in ("metric", "threshold") if _KEYS[k] not in fields]
                if missing:
                    raise ConfigError(f"rules.{name} is a new rule and needs {' and '.join(missing)}")
                by_name[name] = AlertRule(name=name, **fields)
        except InvalidParameterError as exc:
            raise ConfigError(f"rules.{name}: {exc.message}") from None
    return tuple(by_name.values())


def _build_silences(section: Any) -> tuple[Silence, ...]:
    if not section:
        return ()
    if not isinstance(section, list):
        raise ConfigError(f"silences must be a list (got {type(section).__name__})")
    out = []
    for i, spec in enumerate(section):
        where = f"silences[{i}]"
        if not isinstance(spec, Mapping) or not spec.get("matchers"):
            raise ConfigError(f"{where} must be a mapping with matchers, starts_at, ends_at (got {spec!r})")
        matchers = spec["matchers"]
        matchers = (matchers,) if isinstance(matchers, str) else tuple(matchers)
        try:
            out.append(Silence(matchers, _time(spec.get("starts_at"), f"{where}.starts_at"),
                               _time(spec.get("ends_at"), f"{where}.ends_at"), str(spec.get("comment", ""))))
        except InvalidParameterError as exc:
            raise ConfigError(f"{where}: {exc.message}") from None
    return tuple(out)


def load_config(path: str | Path | None = None) -> AlertConfig:
    """Read the alert configuration; without a path, ``ALERT_RULES_FILE`` or the defaults.

    Raises
    ------
    ConfigError
        Unreadable file, bad YAML/JSON, unknown keys or out-of-domain values, naming the offending key.
    """
    if path is None:
        path = os.environ.get("ALERT_RULES_FILE") or None
        if path is None:
            return AlertConfig()
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"alert config {str(path)!r} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"alert config {str(path)!r} is not valid YAML/JSON ({exc})") from None
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"alert config {str(path)!r} must be a mapping at the top level")
    unknown = set(raw) - {"rules", "silences", "repeat_interval"}
    if unknown:
        raise ConfigError(f"alert config has unknown keys {sorted(unknown)} "
                          "(expected rules, silences, repeat_interval)")
    repeat = parse_duration(raw.get("repeat_interval", 4 * 3600), "repeat_interval")
    return AlertConfig(_build_rules(raw.get("rules")), _build_silences(raw.get("silences")), repeat)
