"""Funnels with PostHog's semantics, on DataFrames or in the database, and the calculator funnel.

See ``docs/dashboard.md`` and ``analytics-semantics.md`` (rules 1–11).
"""

from analytics.funnel._api import funnel
from analytics.funnel._frame import from_storage
from analytics.funnel._result import FunnelResult
from analytics.funnel._spec import DEFAULT_WINDOW, Exclusion, Step
from analytics.funnel.calculator import BREAKDOWNS, calculator_funnel, calculator_steps

__all__ = [
    "BREAKDOWNS",
    "DEFAULT_WINDOW",
    "Exclusion",
    "FunnelResult",
    "Step",
    "calculator_funnel",
    "calculator_steps",
    "from_storage",
    "funnel",
]
