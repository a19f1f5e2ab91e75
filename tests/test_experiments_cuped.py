"""CUPED from sufficient statistics equals Welch's t-test (scipy) on unit-level adjusted values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analytics.experiments import JointStats, cuped_theta, cuped_ttest, welch_ttest

RNG = np.random.default_rng(42)
X_C = RNG.gamma(2, 10, 800)
X_T = RNG.gamma(2, 10, 820)
Y_C = 0.8 * X_C + RNG.normal(0, 5, 800)
Y_T = 0.8 * X_T + RNG.normal(1.0, 5, 820)


def test_cuped_equals_welch_on_adjusted_values():
    c, t = JointStats.from_values(Y_C, X_C), JointStats.from_values(Y_T, X_T)
    r = cuped_ttest(c, t, alpha=0.05)
    x_all, y_all = np.concatenate([X_C, X_T]), np.concatenate([Y_C, Y_T])
    theta = np.cov(y_all, x_all, ddof=1)[0, 1] / np.var(x_all, ddof=1)
    assert r.theta == pytest.approx(theta, rel=1e-10)
    assert cuped_theta([c, t]) == pytest.approx(theta, rel=1e-10)
    adj_c = Y_C - theta * (X_C - x_all.mean())
    adj_t = Y_T - theta * (X_T - x_all.mean())
    ref = stats.ttest_ind(adj_t, adj_c, equal_var=False)
    assert r.effect.statistic == pytest.approx(ref.statistic, rel=1e-8)
    assert r.effect.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert r.effect.df == pytest.approx(ref.df, rel=1e-8)
    assert r.effect.absolute.estimate == pytest.approx(adj_t.mean() - adj_c.mean(), rel=1e-10)
    plain_var = Y_C.var(ddof=1) / 800 + Y_T.var(ddof=1) / 820
    adj_var = adj_c.var(ddof=1) / 800 + adj_t.var(ddof=1) / 820
    assert r.variance_reduction == pytest.approx(1 - adj_var / plain_var, rel=1e-8)
    assert r.variance_reduction > 0.5
    assert r.effect.method.startswith("CUPED (theta=")


def test_cuped_narrower_than_plain():
    c, t = JointStats.from_values(Y_C, X_C), JointStats.from_values(Y_T, X_T)
    adj = cuped_ttest(c, t).effect.absolute.ci
    plain = welch_ttest(c.y, t.y).absolute.ci
    assert adj.upper - adj.lower < plain.upper - plain.lower


def test_cuped_constant_covariate_falls_back():
    c = JointStats.from_values(Y_C, np.ones(800))
    t = JointStats.from_values(Y_T, np.ones(820))
    r = cuped_ttest(c, t)
    plain = welch_ttest(c.y, t.y)
    assert r.theta == 0.0
    assert r.effect.p_value == pytest.approx(plain.p_value, rel=1e-10)
    assert r.effect.warnings == ("the covariate has no variance; CUPED falls back to the unadjusted test",)
