"""Bayesian probabilities and expected losses checked against numerical integration with scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from analytics.errors import InvalidParameterError
from analytics.experiments import SampleStats, beta_binomial, normal_means, prob_beta_greater


def _quad_prob_greater(a_t, b_t, a_c, b_c):
    # P(X_t > X_c) = ∫ f_t(x) F_c(x) dx
    f = lambda x: stats.beta.pdf(x, a_t, b_t) * stats.beta.cdf(x, a_c, b_c)  # noqa: E731
    return integrate.quad(f, 0, 1, limit=200, points=[a_t / (a_t + b_t)])[0]


def _quad_loss(a_t, b_t, a_c, b_c):
    # E[max(X_c − X_t, 0)] = ∫∫_{c>t} (c − t) f_c f_t
    def inner(t):
        return integrate.quad(lambda c: (c - t) * stats.beta.pdf(c, a_c, b_c), t, 1)[0]

    return integrate.quad(lambda t: inner(t) * stats.beta.pdf(t, a_t, b_t), 0, 1, limit=200)[0]


@pytest.mark.parametrize(
    ("a_t", "b_t", "a_c", "b_c"), [(11, 91, 9, 93), (3, 5, 4, 4), (1, 20, 2, 30), (5, 2.5, 7, 3.5)]
)
def test_prob_beta_greater_matches_integration(a_t, b_t, a_c, b_c):
    assert prob_beta_greater(a_t, b_t, a_c, b_c) == pytest.approx(
        _quad_prob_greater(a_t, b_t, a_c, b_c), abs=1e-9
    )


def test_beta_binomial_matches_integration():
    c, t = SampleStats.proportion(200, 20), SampleStats.proportion(210, 30)
    r = beta_binomial(c, t)
    a_c, b_c, a_t, b_t = 21, 181, 31, 181
    assert r.chance_to_beat_control == pytest.approx(_quad_prob_greater(a_t, b_t, a_c, b_c), abs=1e-8)
    assert r.expected_loss_treatment == pytest.approx(_quad_loss(a_t, b_t, a_c, b_c), abs=1e-8)
    assert r.expected_loss_control == pytest.approx(_quad_loss(a_c, b_c, a_t, b_t), abs=1e-8)
    assert r.method == "beta-binomial, Beta(1, 1) prior"
    d = a_t / (a_t + b_t) - a_c / (a_c + b_c)
    sd = math.sqrt(stats.beta.var(a_c, b_c) + stats.beta.var(a_t, b_t))
    assert r.absolute.lower == pytest.approx(d - 1.959963984540054 * sd)


def test_beta_binomial_large_counts_monte_carlo():
    c, t = SampleStats.proportion(500_000, 25_000), SampleStats.proportion(500_000, 25_400)
    r = beta_binomial(c, t)
    rng = np.random.default_rng(1)
    xc = rng.beta(25_001, 475_001, 400_000)
    xt = rng.beta(25_401, 474_601, 400_000)
    assert r.chance_to_beat_control == pytest.approx((xt > xc).mean(), abs=0.003)
    assert r.expected_loss_treatment == pytest.approx(np.maximum(xc - xt, 0).mean(), rel=0.05)


def test_beta_binomial_zero_conversions_warns():
    r = beta_binomial(SampleStats.proportion(100, 0), SampleStats.proportion(100, 0))
    assert r.chance_to_beat_control == pytest.approx(0.5, abs=1e-12)
    assert r.warnings == (
        "control has zero conversions; its posterior is driven by the prior",
        "treatment has zero conversions; its posterior is driven by the prior",
    )


def test_beta_binomial_bad_prior():
    with pytest.raises(InvalidParameterError) as exc:
        beta_binomial(SampleStats.proportion(1, 0), SampleStats.proportion(1, 0), prior=(0.5, 1))
    assert (
        str(exc.value)
        == "'prior' must be (a0, b0) with a positive integer a0 and b0 > 0 (got prior=(0.5, 1))"
    )


def test_normal_means_matches_integration():
    rng = np.random.default_rng(5)
    a, b = rng.normal(10, 4, 300), rng.normal(10.6, 4, 320)
    r = normal_means(SampleStats.from_values(a), SampleStats.from_values(b))
    d = b.mean() - a.mean()
    se = math.sqrt(a.var(ddof=1) / 300 + b.var(ddof=1) / 320)
    post = stats.norm(d, se)
    assert r.chance_to_beat_control == pytest.approx(post.sf(0), rel=1e-12)
    loss_t = integrate.quad(lambda x: -x * post.pdf(x), -np.inf, 0)[0]
    loss_c = integrate.quad(lambda x: x * post.pdf(x), 0, np.inf)[0]
    assert r.expected_loss_treatment == pytest.approx(loss_t, rel=1e-7)
    assert r.expected_loss_control == pytest.approx(loss_c, rel=1e-7)
    assert r.method == "normal approximation, flat prior"


def test_normal_means_small_arm_is_coin_flip_with_reason():
    r = normal_means(SampleStats.from_values([1.0]), SampleStats.from_values([2.0, 3.0]))
    assert r.chance_to_beat_control == 0.5
    assert r.warnings == (
        "an arm has fewer than 2 units; the posterior is undefined, reported as a coin flip",
    )
