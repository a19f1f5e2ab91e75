"""Always-valid intervals: formula by hand, and the A/A false-positive rate under continuous peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.errors import InvalidParameterError
from analytics.experiments import SampleStats, sequential_halfwidth, sequential_test
from analytics.experiments._stats.sequential import fixed_horizon_halfwidth


def test_halfwidth_by_hand():
    # alpha = 0.05, N* = 5000, variance of the estimate 0.0004 at n = 2000 (hand-evaluated formula)
    a, n_star, var, n = 0.05, 5000, 0.0004, 2000
    rho2 = (-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / n_star
    log_term = math.log(math.sqrt(n * rho2 + 1) / a)
    expected = math.sqrt(var * n) * math.sqrt(2 * (n * rho2 + 1) / (n * n * rho2) * log_term)
    assert sequential_halfwidth(var, n, a, n_star) == pytest.approx(expected, rel=1e-14)
    # always wider than the fixed-horizon interval
    assert expected > fixed_horizon_halfwidth(var, a)


def test_sequential_test_interval_and_p_value_agree():
    c, t = SampleStats.proportion(4000, 400), SampleStats.proportion(4000, 520)
    r = sequential_test(c, t, alpha=0.05, proportion=True)
    var = 0.1 * 0.9 / 4000 + 0.13 * 0.87 / 4000
    hw = sequential_halfwidth(var, 8000, 0.05)
    assert (r.absolute.ci.lower, r.absolute.ci.upper) == (pytest.approx(0.03 - hw), pytest.approx(0.03 + hw))
    assert r.method == "asymptotic confidence sequence (Waudby-Smith et al. 2024), tuned at N=5000"
    # at alpha = p the sequence just touches zero
    assert sequential_halfwidth(var, 8000, r.p_value) == pytest.approx(0.03, rel=1e-8)
    assert r.p_value < 0.05 and r.significant


def test_sequential_wider_than_fixed_horizon():
    c, t = SampleStats.proportion(4000, 400), SampleStats.proportion(4000, 480)
    r = sequential_test(c, t, alpha=0.05, proportion=True)
    # z = 2.86 would be significant at a single fixed-horizon look, but not as an always-valid result
    assert r.statistic == pytest.approx(2.860062779067007)
    assert not r.significant


def test_sequential_no_effect_p_is_one():
    r = sequential_test(SampleStats.from_values([1.0, 2, 3, 4]), SampleStats.from_values([1.0, 2, 3, 4]))
    assert r.p_value == 1.0


def test_sequential_bad_tuning():
    with pytest.raises(InvalidParameterError) as exc:
        sequential_test(SampleStats.proportion(4, 1), SampleStats.proportion(4, 1), tuning_n=0)
    assert str(exc.value) == "'tuning_n' must be > 0 (got tuning_n=0)"


def test_aa_false_positive_rate_with_daily_peeking():
    """2,000 simulated A/A tests of a 10 % conversion rate, each looked at 30 times (every 500 units/arm).

    The fixed-horizon z interval, peeked at, rejects far more often than 5 %; the confidence sequence must
    stay at or below 5 % (plus Monte Carlo error: 3 standard errors of a 5 % proportion over 2,000 runs).
    """
    rng = np.random.default_rng(20240601)
    sims, looks, per_look, alpha = 2000, 30, 500, 0.05
    conv_a = rng.binomial(per_look, 0.10, size=(sims, looks)).cumsum(axis=1)
    conv_b = rng.binomial(per_look, 0.10, size=(sims, looks)).cumsum(axis=1)
    n_arm = per_look * np.arange(1, looks + 1)
    p_a, p_b = conv_a / n_arm, conv_b / n_arm
    var = p_a * (1 - p_a) / n_arm + p_b * (1 - p_b) / n_arm
    diff = np.abs(p_b - p_a)
    seq_hw = sequential_halfwidth(var, 2 * n_arm, alpha)
    fixed_hw = fixed_horizon_halfwidth(var, alpha)
    seq_fpr = (diff > seq_hw).any(axis=1).mean()
    fixed_fpr = (diff > fixed_hw).any(axis=1).mean()
    mc = 3 * math.sqrt(alpha * (1 - alpha) / sims)
    assert seq_fpr <= alpha + mc, seq_fpr
    assert fixed_fpr > 2 * alpha, fixed_fpr  # peeking at a fixed-horizon test inflates false positives


def test_sequential_detects_real_effect():
    rng = np.random.default_rng(11)
    a = rng.binomial(1, 0.10, 20_000)
    b = rng.binomial(1, 0.12, 20_000)
    r = sequential_test(SampleStats.from_values(a), SampleStats.from_values(b), proportion=True)
    assert r.significant and r.absolute.ci.contains(0.02)
