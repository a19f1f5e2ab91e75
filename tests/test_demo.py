"""The demo generator: deterministic, idempotent to load, and its stated rates recovered by simple counts.

Tolerances are four binomial standard errors, sqrt(p(1-p)/n), of the count's own denominator.
"""

import math
from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import func, select

from analytics.demo import DemoConfig, generate, load_demo
from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.schema import analytics_events

END = datetime(2026, 11, 1)
CFG = DemoConfig()


@pytest.fixture(scope="module")
def big():
    return generate(days=90, sessions=20_000, seed=3, end=END, experiments=False)


def within(observed_k, n, p):
    se = math.sqrt(p * (1 - p) / n)
    assert abs(observed_k / n - p) <= 4 * se, f"{observed_k}/{n} = {observed_k / n:.4f}, expected {p:.4f} ± {4 * se:.4f}"


def by_type(data, name):
    return data.events[data.events["event_type"] == name]


def test_deterministic():
    a = generate(days=10, sessions=300, seed=5, end=END)
    b = generate(days=10, sessions=300, seed=5, end=END)
    assert a.events.drop(columns="event_data").equals(b.events.drop(columns="event_data"))
    assert list(a.events["event_data"]) == list(b.events["event_data"])
    c = generate(days=10, sessions=300, seed=6, end=END)
    assert len(c.events) != len(a.events) or list(c.events["event_data"]) != list(a.events["event_data"])


def test_events_are_valid_and_in_period(big):
    ev = big.events
    assert ev["timestamp"].min() >= np.datetime64(big.start) and ev["timestamp"].max() < np.datetime64(END)
    assert ev["event_id"].is_unique
    sample = ev.sample(2000, random_state=1)
    for row in sample.itertuples():
        raw = {"event_type": row.event_type, "session_id": row.session_id, "user_id": row.user_id if isinstance(row.user_id, str) else None,
               "event_id": row.event_id, "timestamp": row.timestamp.isoformat(), "event_data": row.event_data}
        validate_event(raw, now=END)


def test_one_opened_event_per_session(big):
    assert len(by_type(big, "ai_calculator_opened")) == 20_000


def test_step_continue_rates(big):
    steps = by_type(big, "calculator_step_completed")
    counts = steps["event_data"].map(lambda d: d["step"]).value_counts().sort_index()
    mobile = dict(CFG.devices)["mobile"]
    factor = (1 - mobile) + mobile * CFG.mobile_step_factor
    within(counts[1], 20_000, CFG.step_continue[0] * factor)
    for k in range(2, 6):
        within(counts[k], counts[k - 1], CFG.step_continue[k - 1] * factor)


def test_submit_offer_and_lead_rates(big):
    completed = (by_type(big, "calculator_step_completed")["event_data"].map(lambda d: d["step"]) == 5).sum()
    submitted = len(by_type(big, "assessment_submitted"))
    within(submitted, completed, CFG.submit_prob)
    within(len(by_type(big, "conversion_offer_viewed")), submitted, CFG.offer_view_prob)
    calc_leads = by_type(big, "lead_captured")["event_data"].map(lambda d: d["lead_source"]).eq("calculator").sum()
    within(calc_leads, submitted, CFG.calculator_lead_prob)


def test_click_rate_by_risk_level(big):
    ev = big.events
    risk = by_type(big, "assessment_submitted").set_index("session_id")["event_data"].map(lambda d: d["risk_level"])
    viewed = by_type(big, "conversion_offer_viewed")["session_id"].map(risk)
    clicked = by_type(big, "paid_upgrade_clicked")["session_id"].map(risk)
    assert ev is not None
    for level, rate in zip(CFG.risk_levels, CFG.click_rate, strict=True):
        within((clicked == level).sum(), (viewed == level).sum(), rate)


def test_payment_success_and_plan_mix(big):
    clicks = by_type(big, "paid_upgrade_clicked")
    in_session = by_type(big, "payment_succeeded")
    in_session = in_session[in_session["session_id"].isin(set(clicks["session_id"]))]
    p = CFG.payment_success_prob
    within(len(in_session), len(clicks), p + (1 - p) * CFG.payment_retry_prob * p)
    plans = by_type(big, "payment_succeeded")["event_data"].map(lambda d: d["plan"])
    for name, _price, share in CFG.plans:
        within((plans == name).sum(), len(plans), share)
    prices = {name: price for name, price, _ in CFG.plans}
    assert all(d["amount"] == prices[d["plan"]] for d in by_type(big, "payment_succeeded")["event_data"])


def test_monthly_churn_by_plan(big):
    pays = by_type(big, "payment_succeeded")
    renew = by_type(big, "subscription_renewed")
    first_renewals = set(renew[renew["event_data"].map(lambda d: d["period"]) == 1]["user_id"])
    horizon = np.datetime64(END) - np.timedelta64(CFG.renewal_days, "D")
    eligible = pays[pays["timestamp"] < horizon]
    for (name, _price, _share), churn in zip(CFG.plans, CFG.monthly_churn, strict=True):
        users = eligible[eligible["event_data"].map(lambda d: d["plan"]) == name]["user_id"]
        within(users.isin(first_renewals).sum(), len(users), 1 - churn)


def test_email_delivery_rate(big):
    within(len(by_type(big, "email_delivered")), len(by_type(big, "email_sent")), CFG.email_delivery_prob)


def test_identified_sessions_carry_user_ids(big):
    ev = big.events
    leads = by_type(big, "lead_captured")
    calc = leads[leads["session_id"].str.startswith("s")]
    assert calc["user_id"].notna().all()
    opened = ev[(ev["event_type"] == "ai_calculator_opened") & ev["session_id"].isin(set(calc["session_id"]))]
    # first visits are anonymous until the lead is captured
    assert opened["user_id"].isna().mean() > 0.5


def test_bad_arguments():
    with pytest.raises(InvalidParameterError, match=r"^'sessions' must be at least 1 \(got 0\)$"):
        generate(sessions=0)
    with pytest.raises(InvalidParameterError, match=r"^'days' must be at least 1 \(got 0\)$"):
        generate(days=0)


def test_load_is_idempotent(db_url):
    first = load_demo(db_url, days=7, sessions=200, seed=1, end=END)
    assert first.loaded and first.events > 0
    again = load_demo(db_url, days=7, sessions=200, seed=1, end=END)
    assert (again.loaded, again.events) == (False, first.events)
    from analytics.db import get_engine

    with get_engine(db_url).connect() as c:
        assert c.execute(select(func.count()).select_from(analytics_events)).scalar_one() == first.events
    replaced = load_demo(db_url, days=7, sessions=200, seed=1, end=END, replace=True)
    assert replaced.loaded and replaced.events == first.events
    with get_engine(db_url).connect() as c:
        assert c.execute(select(func.count()).select_from(analytics_events)).scalar_one() == first.events
