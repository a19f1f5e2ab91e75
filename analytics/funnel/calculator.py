"""The AI Job Impact Calculator funnel: opened → steps 1..N → submitted → offer → click → payment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from analytics.errors import InvalidParameterError
from analytics.funnel._api import funnel
from analytics.funnel._result import FunnelResult
from analytics.funnel._spec import DEFAULT_WINDOW, Step

__all__ = ["BREAKDOWNS", "calculator_funnel", "calculator_steps"]

BREAKDOWNS = ("source", "medium", "campaign", "device", "country")


def calculator_steps(n_form_steps: int) -> list[Step]:
    """The calculator funnel's steps with ``n_form_steps`` form steps (``calculator_step_completed`` step=k)."""
    if not isinstance(n_form_steps, int) or isinstance(n_form_steps, bool) or not 0 <= n_form_steps <= 20:
        raise InvalidParameterError(
            "n_form_steps", f"'n_form_steps' must be an integer in [0, 20] (got {n_form_steps!r})"
        )
    return [
        Step("ai_calculator_opened", label="Calculator opened"),
        *[
            Step("calculator_step_completed", {"step": k}, label=f"Step {k} completed")
            for k in range(1, n_form_steps + 1)
        ],
        Step("assessment_submitted", label="Assessment submitted"),
        Step("conversion_offer_viewed", label="Offer viewed"),
        Step("paid_upgrade_clicked", label="Upgrade clicked"),
        Step("payment_succeeded", label="Payment succeeded"),
    ]


def _form_steps(source: Engine | Connection, start: Any, end: Any) -> int:
    """The highest form step completed in the period, read in SQL (0 when there is none)."""
    from analytics.schema import analytics_events as ev
    from analytics.storage import check_period

    s, e = check_period(start, end)
    stmt = select(func.max(ev.c.form_step)).where(  # typed copy of event_data.step (index-only scan)
        ev.c.event_type == "calculator_step_completed", ev.c.timestamp >= s, ev.c.timestamp < e
    )
    if isinstance(source, Engine):
        with source.connect() as conn:
            value = conn.execute(stmt).scalar()
    else:
        value = source.execute(stmt).scalar()
    return min(int(value or 0), 20)


def calculator_funnel(
    source: Engine | Connection,
    start_date: Any,
    end_date: Any,
    *,
    breakdown: str | None = None,
    n_form_steps: int | None = None,
    window: Any = DEFAULT_WINDOW,
) -> FunnelResult:
    """The calculator funnel in the database, optionally broken down by traffic source or device.

    Parameters
    ----------
    source:
        Engine or connection on the analytics database.
    start_date, end_date:
        The period ``[start, end)``.
    breakdown:
        ``None`` or one of ``source, medium, campaign, device, country`` (taken from the opening event).
    n_form_steps:
        Number of form steps; default: the highest step completed in the period.
    window:
        Conversion window from opening the calculator (default 14 days, so later payments count).

    Returns
    -------
    FunnelResult
        The ordered funnel (rules 1–11) with drop-off counts and rates per step.
    """
    if breakdown is not None and breakdown not in BREAKDOWNS:
        raise InvalidParameterError(
            "breakdown", f"'breakdown' must be None or one of {', '.join(BREAKDOWNS)} (got {breakdown!r})"
        )
    n = _form_steps(source, start_date, end_date) if n_form_steps is None else n_form_steps
    return funnel(
        source,
        calculator_steps(n),
        window=window,
        breakdown=breakdown,
        start_date=start_date,
        end_date=end_date,
    )
