"""Attribution rules 15–17 with hand-computed credits."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.attribution import apportion, attribute, markov_removal_effects
from analytics.errors import InvalidParameterError

T = pd.Timestamp("2026-03-01", tz="UTC")


def touches(rows):
    return pd.DataFrame(
        {
            "person_id": [r[0] for r in rows],
            "timestamp": [T + pd.Timedelta(days=r[1]) for r in rows],
            "source": [r[2] for r in rows],
            "medium": [r[3] if len(r) > 3 else None for r in rows],
            "campaign": None,
        }
    )


def convs(rows):
    return pd.DataFrame(
        {
            "person_id": [r[0] for r in rows],
            "timestamp": [T + pd.Timedelta(days=r[1]) for r in rows],
            "revenue": [r[2] for r in rows],
        }
    )


def credit(result, model):
    return dict(zip(result["channel"], result[model], strict=True))


def test_apportion_largest_remainder_sums_exactly():
    assert apportion(4999, [1, 1, 1]) == [1667, 1666, 1666]
    assert apportion(100, [0.4, 0.1, 0.1, 0.4]) == [40, 10, 10, 40]
    with pytest.raises(InvalidParameterError, match=r"^'weights' must be non-empty with a positive sum"):
        apportion(1, [0.0])


def test_rule16_models_on_one_path():
    # One conversion of 100.00 at day 14 after touches a (day 0), b (day 7), c (day 7), d (day 14).
    t = touches([("p", 0, "a"), ("p", 7, "b"), ("p", 7.5, "c"), ("p", 14, "d")])
    r = attribute(t, convs([("p", 14, 100.0)]))
    assert credit(r, "first_touch") == {"a": 100.0, "b": 0.0, "c": 0.0, "d": 0.0}
    assert credit(r, "last_touch") == {"a": 0.0, "b": 0.0, "c": 0.0, "d": 100.0}
    assert credit(r, "linear") == {"a": 25.0, "b": 25.0, "c": 25.0, "d": 25.0}
    assert credit(r, "position_based") == {"a": 40.0, "b": 10.0, "c": 10.0, "d": 40.0}
    # time decay, half-life 7 d: weights 2^-2, 2^-1, 2^-(6.5/7), 1 -> shares of 10 000 cents
    w = np.array([0.25, 0.5, 2 ** (-6.5 / 7), 1.0])
    exact = 10000 * w / w.sum()
    assert credit(r, "time_decay") == pytest.approx(
        dict(zip("abcd", np.round(exact) / 100, strict=True)), abs=0.01
    )
    assert sum(credit(r, "time_decay").values()) == pytest.approx(100.0, abs=1e-9)


def test_rule16_two_and_one_touch_position_based():
    t = touches([("p", 0, "a"), ("p", 1, "b"), ("q", 0, "c")])
    r = attribute(t, convs([("p", 2, 80.0), ("q", 1, 10.0)]))
    assert credit(r, "position_based") == {"a": 40.0, "b": 40.0, "c": 10.0}


def test_rule15_lookback_and_direct():
    t = touches([("p", 0, "old"), ("p", 40, "new"), ("q", 50, "after")])
    r = attribute(t, convs([("p", 45, 49.99), ("q", 45, 10.0), ("z", 45, 5.0)]), lookback=timedelta(days=30))
    assert credit(r, "linear") == {"new": 49.99, "(direct)": 15.0}  # q's touch is after the conversion
    assert credit(r, "markov").keys() == {"new", "(direct)"}


def test_credits_sum_exactly_to_revenue():
    rng = np.random.default_rng(3)
    t = touches(
        [
            (f"p{rng.integers(50)}", float(rng.uniform(0, 60)), str(rng.choice(list("abcde"))))
            for _ in range(400)
        ]
    )
    c = convs(
        [
            (f"p{rng.integers(60)}", float(rng.uniform(20, 60)), float(rng.choice([49.99, 79.99, 99.99])))
            for _ in range(80)
        ]
    )
    r = attribute(t, c)
    total_cents = int(round(c["revenue"].sum() * 100))
    for model in ("first_touch", "last_touch", "linear", "position_based", "time_decay", "markov"):
        assert int(round((r[model] * 100).sum())) == total_cents
        assert all(abs(v * 100 - round(v * 100)) < 1e-6 for v in r[model])
    assert r["conversions"].sum() == 80


def test_rule17_markov_removal_effect_by_hand():
    # start->a (2/3), start->direct (1/3); a->b 1/2, a->null 1/2; b->conv; direct->conv.
    # P(conv) = 2/3 * 1/2 + 1/3 = 2/3. Without a: 1/3 -> RE 0.5; without b: 1/3 -> 0.5; without direct: 1/3.
    paths = [(["a", "b"], True), (["a"], False), (["(direct)"], True)]
    effects, base = markov_removal_effects(paths)
    assert base == pytest.approx(2 / 3)
    assert effects == pytest.approx({"a": 0.5, "b": 0.5, "(direct)": 0.5})
    # a loop: a->a counts: path a,a,conv and a,null: a->a 1/3, a->conv 1/3, a->null 1/3 -> P = 1/2, RE(a) = 1
    effects, base = markov_removal_effects([(["a", "a"], True), (["a"], False)])
    assert base == pytest.approx(0.5)
    assert effects == pytest.approx({"a": 1.0})


def test_markov_credit_is_normalised_removal_effect():
    t = touches([("p", 0, "a"), ("p", 1, "b"), ("q", 0, "a")])
    r = attribute(t, convs([("p", 2, 100.0), ("c", 2, 50.0)]))
    # paths: a,b->conv; a->null; (direct)->conv: RE all 0.5 -> 150 / 3 each
    assert credit(r, "markov") == {"a": 50.0, "b": 50.0, "(direct)": 50.0}


def test_invalid_arguments():
    with pytest.raises(InvalidParameterError) as info:
        attribute(touches([]), convs([]), by="country")
    assert str(info.value) == "'by' must be one or more of source, medium, campaign (got 'country')"
    with pytest.raises(InvalidParameterError) as info:
        attribute(touches([]), convs([]), lookback=timedelta(0))
    assert str(info.value) == "'lookback' must be a positive timedelta (got datetime.timedelta(0))"


def test_channel_by_source_and_medium():
    t = touches([("p", 0, "google", "cpc"), ("q", 0, "google", None)])
    r = attribute(t, convs([("p", 1, 10.0), ("q", 1, 20.0)]), by=("source", "medium"))
    assert credit(r, "linear") == {"google / (not set)": 20.0, "google / cpc": 10.0}
