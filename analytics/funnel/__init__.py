"""Funnels with PostHog's semantics, on DataFrames or in the database, and the calculator funnel.

See ``docs/dashboard.md`` and ``analytics-semantics.md`` (rules 1–11).
"""

from analytics.funnel._api import funnel
from analytics.funnel._result import FunnelResult
from analytics.funnel._spec import DEFAULT_WINDOW, Exclusion, Step

__all__ = ["DEFAULT_WINDOW", "Exclusion", "FunnelResult", "Step", "funnel"]
