"""Survival LTV: hand-computed Kaplan-Meier, recovery of a configured churn rate, errors."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.errors import InvalidParameterError
from analytics.ltv import survival_ltv


def test_hand_computed_kaplan_meier() -> None:
    # paid 1 (churned), 2 (churned), 2 (censored), 3 (churned), 3 (censored)
    # j=1: d=1, n=5 -> S1=0.8; j=2: d=1, n=3 (censored 2 excluded) -> S2=0.8*2/3; j=3: d=1, n=1 -> S3=0
    res = survival_ltv(
        [1, 2, 2, 3, 3], [True, True, False, True, False], 10.0, horizon_months=5, monthly_discount_rate=0.0
    )
    assert res.retention["retention"].tolist() == pytest.approx([1.0, 0.8, 0.8 * 2 / 3, 0.0, 0.0])
    assert res.retention["at_risk"].tolist()[:4] == [5.0, 5.0, 3.0, 1.0]
    assert res.retention["extrapolated"].tolist() == [False, False, False, False, True]
    assert res.ltv == pytest.approx(10 * (1 + 0.8 + 0.8 * 2 / 3))
    assert res.monthly_churn == pytest.approx(3 / 9)
    assert res.ci_low <= res.ltv <= res.ci_high


def test_discounting_and_tail_by_hand() -> None:
    # nobody churns in 2 months: pooled churn 0 -> flat retention beyond; discount 10 % a month
    res = survival_ltv([2, 2], [False, False], 20.0, horizon_months=3, monthly_discount_rate=0.1)
    assert res.ltv == pytest.approx(20 + 20 / 1.1 + 20 / 1.21)


@pytest.mark.parametrize("seed", [1, 2])
def test_recovers_configured_churn(seed: int) -> None:
    # geometric lifetimes with 10 % monthly churn, observed at a uniform time in [0, 30) months
    rng = np.random.default_rng(seed)
    n = 20_000
    lifetimes = rng.geometric(0.1, n)  # payments made before stopping
    observed_at = rng.uniform(0, 30, n)
    months_paid = np.minimum(lifetimes, np.floor(observed_at) + 1)
    churned = lifetimes <= observed_at  # the unpaid renewal (due at month `lifetimes`) has fallen due
    res = survival_ltv(months_paid, churned, 49.99, horizon_months=24, monthly_discount_rate=0.0)
    truth = 49.99 * (1 - 0.9**24) / 0.1
    assert res.ci_low < truth < res.ci_high
    assert res.monthly_churn == pytest.approx(0.1, abs=0.005)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"months_paid": [0], "churned": [True], "price": 1},
            "'months_paid' must be whole numbers >= 1 (got 0.0 at position 0)",
        ),
        (
            {"months_paid": [1], "churned": [True, False], "price": 1},
            "months_paid, churned must have the same length (got months_paid=1, churned=2)",
        ),
        ({"months_paid": [1], "churned": [True], "price": 0}, "'price' must be a positive number (got 0)"),
        (
            {"months_paid": [1], "churned": [True], "price": 1, "horizon_months": 0},
            "'horizon_months' must be a whole number >= 1 (got 0)",
        ),
        (
            {"months_paid": [1], "churned": [True], "price": 1, "level": 1.0},
            "'level' must be between 0 and 1 (got 1.0)",
        ),
    ],
)
def test_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        survival_ltv(**kwargs)
    assert str(err.value) == message
