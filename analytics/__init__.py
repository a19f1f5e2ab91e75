"""Analytics for the AI Job Impact Calculator.

Storage and the event catalogue (:mod:`analytics.schema`, :mod:`analytics.events`, :mod:`analytics.storage`),
identity resolution, the demo generator, and every computation the notebooks, the ingest sidecar and the scheduled
reports call. The seed's service objects (``ai_calculator_dashboard``, ``ai_calculator_ab_testing``,
``ai_calculator_performance``, ``ai_calculator_bi``) are importable from here and load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from analytics.errors import (
    AnalyticsError,
    ConfigError,
    FieldError,
    InvalidParameterError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from analytics.events import CATALOGUE, EVENT_TYPES, Event, validate_batch, validate_event
from analytics.storage import WriteResult, read_events, write_events

__version__ = "0.1.0"

# The seed's objects, imported lazily so `import analytics` stays fast for the ingest hot path.
_LAZY = {
    "ai_calculator_dashboard": "analytics.dashboard",
    "ai_calculator_ab_testing": "analytics.experiments",
    "ai_calculator_performance": "analytics.performance",
    "ai_calculator_bi": "analytics.bi",
}

__all__ = [
    "CATALOGUE",
    "EVENT_TYPES",
    "AnalyticsError",
    "ConfigError",
    "Event",
    "FieldError",
    "InvalidParameterError",
    "NotFoundError",
    "StorageError",
    "ValidationError",
    "WriteResult",
    "ai_calculator_ab_testing",
    "ai_calculator_bi",
    "ai_calculator_dashboard",
    "ai_calculator_performance",
    "read_events",
    "validate_batch",
    "validate_event",
    "write_events",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
