"""Subscriptions rebuilt from events: hand-checked table and churn, and the demo generator's configured monthly
churn (0.20 / 0.15 / 0.10, renewals every 30 days) recovered within sampling error."""

from __future__ import annotations

import tempfile
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analytics.db import _build_engine, upgrade
from analytics.demo import DemoConfig, generate, insert_demo
from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.ltv import subscription_churn, subscription_ltv, subscriptions
from analytics.storage import write_events

AS_OF = "2024-04-15"


def _ev(kind: str, session: str, user: str | None, ts: str, **data) -> dict:  # noqa: ANN003
    return {"event_type": kind, "session_id": session, "user_id": user, "timestamp": ts, "event_data": data}


HAND = [
    # u1 basic: three payments, the renewal due 03-31 unpaid by 04-15: churned after 3
    _ev("payment_succeeded", "s1", "u1", "2024-01-01T10:00:00Z", plan="basic", amount=49.99),
    _ev("subscription_renewed", "srv-u1", "u1", "2024-01-31T10:00:00Z", plan="basic", amount=49.99, period=1),
    _ev("subscription_renewed", "srv-u1", "u1", "2024-03-01T10:00:00Z", plan="basic", amount=49.99, period=2),
    # u2 basic: paid 03-20, cancelled 03-25 inside the paid month (due 04-19 > as_of): censored after 1
    _ev("payment_succeeded", "s2", "u2", "2024-03-20T10:00:00Z", plan="basic", amount=49.99),
    _ev("subscription_cancelled", "srv-u2", "u2", "2024-03-25T10:00:00Z", plan="basic"),
    # u3 pro: anonymous payment in a session identified later in it; one renewal; due 04-01 unpaid: churned
    _ev("payment_succeeded", "s3", None, "2024-02-01T10:00:00Z", plan="pro", amount=99.99),
    _ev("lead_captured", "s3", "u3", "2024-02-01T10:05:00Z", lead_source="calculator", email_consent=True),
    _ev("subscription_renewed", "srv-u3", "u3", "2024-03-02T10:00:00Z", plan="pro", amount=99.99, period=1),
    # u4: a renewal of a subscription that started before the data (left-truncated, excluded)
    _ev("subscription_renewed", "srv-u4", "u4", "2024-01-05T10:00:00Z", plan="pro", amount=99.99, period=7),
    # after as_of: ignored (u2's renewal would un-censor nothing before as_of)
    _ev("subscription_renewed", "srv-u2", "u2", "2024-04-19T10:00:00Z", plan="basic", amount=49.99, period=1),
]


@pytest.fixture
def hand_engine(engine):  # noqa: ANN001, ANN201
    write_events(engine, [validate_event(e) for e in HAND])
    return engine


def test_subscriptions_by_hand(hand_engine) -> None:  # noqa: ANN001
    subs = subscriptions(hand_engine, as_of=AS_OF)
    assert subs["person"].tolist() == ["u1", "u2", "u3"]
    assert subs["plan"].tolist() == ["basic", "basic", "pro"]
    assert subs["months_paid"].tolist() == [3, 1, 2]
    assert subs["churned"].tolist() == [True, False, True]
    np.testing.assert_allclose(subs["revenue"], [149.97, 49.99, 199.98])
    assert subs["started_at"].tolist() == [pd.Timestamp("2024-01-01 10:00"), pd.Timestamp("2024-03-20 10:00"),
                                           pd.Timestamp("2024-02-01 10:00")]
    assert subs["cancelled_at"].iloc[1] == pd.Timestamp("2024-03-25 10:00")
    assert pd.isna(subs["cancelled_at"].iloc[0])
    assert subs.attrs["left_truncated"] == 1


def test_churn_by_hand_with_wilson_interval(hand_engine) -> None:  # noqa: ANN001
    churn = subscription_churn(subscriptions(hand_engine, as_of=AS_OF))
    # basic: months with a known outcome = (3-1) + (1-1) + 1 churned = 3; pro: (2-1) + 1 = 2
    assert churn.loc["basic", ["subscribers", "at_risk", "churned"]].tolist() == [2, 3, 1]
    assert churn.loc["pro", ["subscribers", "at_risk", "churned"]].tolist() == [1, 2, 1]
    assert churn.loc["basic", "monthly_churn"] == pytest.approx(1 / 3)
    lo, hi = proportion_confint(1, 3, alpha=0.05, method="wilson")
    assert churn.loc["basic", "ci_low"] == pytest.approx(lo)
    assert churn.loc["basic", "ci_high"] == pytest.approx(hi)


def test_ltv_by_hand(hand_engine) -> None:  # noqa: ANN001
    res = subscription_ltv(hand_engine, as_of=AS_OF, horizon_months=3, monthly_discount_rate=0.0)
    # basic KM: n_1 = 1 (u1 paid more; u2, censored after 1, is out), d_1 = 0; n_2 = 1, d_2 = 0: S = 1, 1, 1
    assert res["basic"].retention["retention"].tolist() == [1.0, 1.0, 1.0]
    assert res["basic"].ltv == pytest.approx(3 * 49.99)
    # pro: u3 paid twice and churned: S(0) = S(1) = 1, S(2) = 0
    assert res["pro"].retention["retention"].tolist() == [1.0, 1.0, 0.0]
    assert res["pro"].ltv == pytest.approx(2 * 99.99)


def test_errors(hand_engine) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError) as err:
        subscriptions(hand_engine, as_of=AS_OF, renewal_days=0)
    assert str(err.value) == "'renewal_days' must be > 0 (got 0)"
    with pytest.raises(InvalidParameterError) as err:
        subscription_churn(subscriptions(hand_engine, as_of=AS_OF), level=1.5)
    assert str(err.value) == "'level' must be between 0 and 1 (got 1.5)"


@pytest.mark.slow
def test_generator_churn_recovered() -> None:
    """A year of demo traffic (20,000 sessions): each plan's configured churn inside 3 standard errors and its
    geometric-model LTV inside the bootstrap interval."""
    data = generate(days=360, sessions=20_000, seed=5, end=datetime(2026, 1, 1), experiments=False)
    cfg = DemoConfig()
    with tempfile.TemporaryDirectory() as tmp:
        eng = _build_engine(f"sqlite:///{tmp}/subs.db")
        upgrade(eng)
        with eng.begin() as conn:
            insert_demo(conn, data)
        churn = subscription_churn(subscriptions(eng, as_of=data.end))
        ltv = subscription_ltv(eng, as_of=data.end, horizon_months=24, monthly_discount_rate=0.01)
        eng.dispose()
    for (plan, price, _), h in zip(cfg.plans, cfg.monthly_churn, strict=True):
        row = churn.loc[plan]
        se = np.sqrt(h * (1 - h) / row["at_risk"])
        assert row["at_risk"] > 500
        assert abs(row["monthly_churn"] - h) < 3 * se, (plan, row["monthly_churn"], h, se)
        assert row["ci_low"] < h < row["ci_high"]
        true_ltv = price * sum(((1 - h) / 1.01) ** k for k in range(24))
        assert ltv[plan].ci_low < true_ltv < ltv[plan].ci_high, (plan, ltv[plan].ltv, true_ltv)
