"""Quantiles, their order-statistic intervals and Wilson rates, checked against numpy/scipy/statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analytics.errors import InvalidParameterError
from analytics.performance import latency_stats, wilson_rate
from analytics.performance.stats import order_statistic_ranks


@pytest.mark.parametrize("n", [1, 2, 7, 20, 101, 1000])
def test_quantiles_match_numpy_linear(n):
    rng = np.random.default_rng(n)
    xs = rng.lognormal(6, 0.7, n)
    s = latency_stats(list(xs))
    assert s.count == n
    assert s.mean == pytest.approx(xs.mean(), rel=1e-12)
    assert s.max == xs.max()
    for q, p in ((s.p50, 50), (s.p95, 95), (s.p99, 99)):
        assert q.value == pytest.approx(np.percentile(xs, p, method="linear"), rel=1e-12)


def test_interval_ranks_match_binomial_definition():
    # n=100, p=0.5: r = binom.ppf(0.025) = 40, s = binom.ppf(0.975) + 1 = 61; coverage F(60) - F(39) >= 0.95
    lo, hi, r, s = order_statistic_ranks(100, 500)
    assert (lo, hi, r, s) == (50, 51, 40, 61)
    assert stats.binom.cdf(60, 100, 0.5) - stats.binom.cdf(39, 100, 0.5) >= 0.95


def test_interval_bounds_are_order_statistics():
    xs = list(range(1, 101))  # x_(k) = k
    s = latency_stats(xs)
    assert (s.p50.ci_low, s.p50.ci_high) == (40.0, 61.0)
    # p99 with n=100: r = binom.ppf(0.025, 100, .99) = 97, s = binom.ppf(0.975) + 1 = 101 > n → open upper bound
    assert stats.binom.ppf(0.025, 100, 0.99) == 97
    assert s.p99.ci_low == 97.0 and s.p99.ci_high is None


def test_empty_sample_has_reason():
    s = latency_stats([])
    assert (s.count, s.p50, s.reason) == (0, None, "no observations")


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (57, 1000), (1, 1)])
def test_wilson_matches_statsmodels(k, n):
    r = wilson_rate(k, n)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert r.value == k / n
    assert r.ci_low == pytest.approx(lo, abs=1e-12)
    assert r.ci_high == pytest.approx(hi, abs=1e-12)


def test_wilson_degenerate_and_invalid():
    r = wilson_rate(0, 0)
    assert (r.value, r.ci_low, r.reason) == (None, None, "denominator is 0")
    with pytest.raises(InvalidParameterError) as exc:
        wilson_rate(5, 3)
    assert str(exc.value) == "'numerator' must be between 0 and 'denominator' (got numerator=5, denominator=3)"
    with pytest.raises(InvalidParameterError) as exc:
        wilson_rate(1, 3, confidence=1.5)
    assert str(exc.value) == "'confidence' must be strictly between 0 and 1 (got confidence=1.5)"
