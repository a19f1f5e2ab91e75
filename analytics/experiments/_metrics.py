"""The metrics a test can be read on, defined from the event catalogue (docs/architecture.md).

Every metric is computed per unit from the unit's events *after its first exposure* (the outcome ``y``) and,
for CUPED, from its events *before* first exposure (the covariate ``x``, the same quantity over the unit's
earlier history).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["METRICS", "Metric"]


@dataclass(frozen=True)
class Metric:
    """A per-unit metric.

    Attributes
    ----------
    name:
        Identifier used in test configs and reports.
    kind:
        ``binary`` (did the unit do it: a conversion rate), ``mean`` (sum of ``value_key`` per unit, e.g.
        revenue per unit) or ``ratio`` (Σ value / Σ denominator events over units, analysed with the delta
        method, e.g. revenue per session when the unit is the user).
    event_types:
        Events that count.
    value_key:
        ``event_data`` key summed for ``mean``/``ratio`` metrics.
    denominator_event:
        For ``ratio``: the event counted in the denominator.
    label:
        Human-readable description with unit.
    """

    name: str
    kind: Literal["binary", "mean", "ratio"]
    event_types: tuple[str, ...]
    value_key: str | None = None
    denominator_event: str | None = None
    label: str = ""


_REVENUE = ("payment_succeeded", "subscription_renewed")

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("conversion", "binary", ("paid_upgrade_clicked",), label="upgrade click rate"),
        Metric("purchase", "binary", ("payment_succeeded",), label="purchase rate (share of units)"),
        Metric("lead", "binary", ("lead_captured",), label="lead capture rate (share of units)"),
        Metric("assessment", "binary", ("assessment_submitted",), label="assessment completion rate"),
        Metric("revenue", "mean", _REVENUE, "amount", label="revenue per unit (USD)"),
        Metric(
            "revenue_per_session", "ratio", _REVENUE, "amount", "ai_calculator_opened",
            label="revenue per calculator session (USD)",
        ),  # fmt: skip
    )
}
