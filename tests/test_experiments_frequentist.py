"""Frequentist comparisons checked against statsmodels/scipy on fixed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analytics.errors import InvalidParameterError
from analytics.experiments import (
    JointStats,
    SampleStats,
    apply_holm,
    holm_adjust,
    mean_interval,
    proportion_interval,
    proportion_ztest,
    ratio_delta_test,
    welch_ttest,
)

CONTROL = SampleStats.proportion(10_000, 1_000)
TREATMENT = SampleStats.proportion(10_000, 1_100)


def test_ztest_matches_statsmodels():
    r = proportion_ztest(CONTROL, TREATMENT, alpha=0.05)
    z, p = proportions_ztest([1_100, 1_000], [10_000, 10_000])
    assert r.statistic == pytest.approx(z, rel=1e-12)
    assert r.p_value == pytest.approx(p, rel=1e-10)
    lo, hi = confint_proportions_2indep(
        1_100, 10_000, 1_000, 10_000, method="wald", compare="diff", alpha=0.05
    )
    assert (r.absolute.ci.lower, r.absolute.ci.upper) == (
        pytest.approx(lo, rel=1e-10),
        pytest.approx(hi, rel=1e-10),
    )
    assert r.absolute.estimate == pytest.approx(0.01)
    assert r.absolute.unit == "absolute" and r.relative.unit == "relative"
    assert r.method == "two-proportion z-test (pooled SE), Wald interval"
    assert (r.alpha, r.correction, r.df) == (0.05, "none", None)


def test_ztest_relative_lift_delta_method_by_hand():
    r = proportion_ztest(CONTROL, TREATMENT, alpha=0.10)
    # hand: p_c=0.1, p_t=0.11, v=p(1-p)/n
    v_c, v_t = 0.1 * 0.9 / 10_000, 0.11 * 0.89 / 10_000
    se = math.sqrt(v_t / 0.1**2 + 0.11**2 * v_c / 0.1**4)
    z = stats.norm.ppf(0.95)
    assert r.relative.estimate == pytest.approx(0.1)
    assert r.relative.ci.lower == pytest.approx(0.1 - z * se, rel=1e-10)
    assert r.relative.ci.upper == pytest.approx(0.1 + z * se, rel=1e-10)
    assert r.relative.ci.level == pytest.approx(0.9)


def test_ztest_zero_conversions_in_both_arms_is_defined():
    r = proportion_ztest(SampleStats.proportion(500, 0), SampleStats.proportion(400, 0))
    assert (r.p_value, r.absolute.estimate, r.statistic) == (1.0, 0.0, None)
    assert r.relative.estimate is None
    assert r.relative.reason == "control mean is 0, so a relative lift is undefined"
    assert r.warnings == ("both arms have identical all-or-nothing conversions; p = 1 by definition",)


def test_ztest_zero_conversions_in_one_arm_warns():
    r = proportion_ztest(SampleStats.proportion(500, 0), SampleStats.proportion(500, 10))
    z, p = proportions_ztest([10, 0], [500, 500])
    assert r.p_value == pytest.approx(p)
    assert r.warnings == ("control has zero conversions; the Wald interval is unreliable",)
    assert r.relative.estimate is None


def test_ztest_empty_arm_not_estimable():
    r = proportion_ztest(SampleStats.proportion(0, 0), SampleStats.proportion(10, 1))
    assert r.p_value is None and r.absolute.estimate is None
    assert r.absolute.reason == "an arm has no units"
    assert not r.significant


def test_ztest_rejects_non_binary_stats():
    with pytest.raises(InvalidParameterError) as exc:
        proportion_ztest(SampleStats(10, 3, 5), CONTROL)
    assert str(exc.value) == (
        "'control' must be 0/1 statistics with sum == sum_sq <= n "
        "(got SampleStats(n=10, sum=3.0, sum_sq=5.0))"
    )


def test_bad_alpha_message():
    with pytest.raises(InvalidParameterError) as exc:
        welch_ttest(CONTROL, TREATMENT, alpha=1.5)
    assert str(exc.value) == "'alpha' must be a number in (0, 1) (got alpha=1.5)"


def test_proportion_stats_validation():
    with pytest.raises(InvalidParameterError) as exc:
        SampleStats.proportion(5, 6)
    assert str(exc.value) == "'successes' must not exceed 'n' (got successes=6, n=5)"
    with pytest.raises(InvalidParameterError) as exc:
        SampleStats(-1, 0, 0)
    assert str(exc.value) == "'n' must be an integer >= 0 (got n=-1)"
    with pytest.raises(InvalidParameterError) as exc:
        SampleStats(3, float("nan"), 0)
    assert str(exc.value) == "'sum' must be a finite number (got sum=nan)"


RNG = np.random.default_rng(7)
A = RNG.gamma(2.0, 20.0, size=400)
B = RNG.gamma(2.2, 20.0, size=350)


def test_welch_matches_scipy_and_statsmodels():
    r = welch_ttest(SampleStats.from_values(A), SampleStats.from_values(B), alpha=0.05)
    ref = stats.ttest_ind(B, A, equal_var=False)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.df == pytest.approx(ref.df, rel=1e-9)
    lo, hi = CompareMeans(DescrStatsW(B), DescrStatsW(A)).tconfint_diff(alpha=0.05, usevar="unequal")
    assert r.absolute.ci.lower == pytest.approx(lo, rel=1e-9)
    assert r.absolute.ci.upper == pytest.approx(hi, rel=1e-9)
    assert r.method == "Welch's t-test"


def test_welch_degenerate_cases():
    one = welch_ttest(SampleStats.from_values([1.0]), SampleStats.from_values([1.0, 2.0]))
    assert one.p_value is None
    assert one.absolute.reason == "an arm has fewer than 2 units; the variance is undefined"
    flat = welch_ttest(SampleStats.from_values([0.0, 0.0]), SampleStats.from_values([0.0, 0.0, 0.0]))
    assert (flat.p_value, flat.warnings) == (1.0, ("both arms have zero variance",))


def test_mean_and_rate_intervals():
    lo, hi = proportion_confint(1_000, 10_000, alpha=0.05, method="wilson")
    ci = proportion_interval(CONTROL, 0.05)
    assert (ci.lower, ci.upper) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    lo, hi = DescrStatsW(A).tconfint_mean(alpha=0.05)
    ci = mean_interval(SampleStats.from_values(A), 0.05)
    assert (ci.lower, ci.upper) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))


def test_ratio_delta_method_by_hand():
    rng = np.random.default_rng(3)
    x_c = rng.poisson(3, 500) + 1
    y_c = x_c * rng.gamma(2, 5, 500)
    x_t = rng.poisson(3, 600) + 1
    y_t = x_t * rng.gamma(2, 5.5, 600)
    r = ratio_delta_test(JointStats.from_values(y_c, x_c), JointStats.from_values(y_t, x_t))

    def var_ratio(y, x):  # Deng et al. (2018) eq. 3 written out with numpy moments
        n = len(y)
        mx, my = x.mean(), y.mean()
        c = np.cov(y, x, ddof=1)
        return (c[0, 0] / mx**2 - 2 * my * c[0, 1] / mx**3 + my**2 * c[1, 1] / mx**4) / n

    d = y_t.sum() / x_t.sum() - y_c.sum() / x_c.sum()
    se = math.sqrt(var_ratio(y_c, x_c) + var_ratio(y_t, x_t))
    assert r.absolute.estimate == pytest.approx(d, rel=1e-12)
    assert r.statistic == pytest.approx(d / se, rel=1e-9)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(d / se)), rel=1e-9)
    assert r.absolute.ci.upper == pytest.approx(d + 1.959963984540054 * se, rel=1e-9)


def test_ratio_zero_denominator():
    r = ratio_delta_test(JointStats(3, 1, 1, 0, 0, 0), JointStats(3, 1, 1, 3, 3, 1))
    assert r.p_value is None
    assert r.absolute.reason == "an arm has fewer than 2 units or a zero denominator"


def test_holm_matches_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    assert holm_adjust(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), rel=1e-12)
    assert holm_adjust([]) == []


def test_apply_holm_marks_correction():
    res = [
        proportion_ztest(CONTROL, SampleStats.proportion(10_000, 1_080)),
        proportion_ztest(CONTROL, TREATMENT),
    ]
    out = apply_holm(res)
    expected = multipletests([res[0].p_value, res[1].p_value], method="holm")[1]
    assert [o.adjusted_p_value for o in out] == pytest.approx(expected.tolist())
    assert {o.correction for o in out} == {"holm (p-values; intervals unadjusted)"}
    assert apply_holm(res[:1])[0].correction == "none"
