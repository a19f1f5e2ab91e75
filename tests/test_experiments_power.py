"""Sample size and MDE checked against statsmodels."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep, samplesize_proportions_2indep_onetail

from analytics.errors import InvalidParameterError
from analytics.experiments import (
    days_to_run,
    mde_means,
    mde_proportions,
    sample_size_means,
    sample_size_proportions,
)


@pytest.mark.parametrize(("base", "mde", "ratio"), [(0.05, 0.1, 1.0), (0.2, 0.05, 1.0), (0.1, 0.2, 2.0)])
def test_rate_sample_size_matches_statsmodels(base, mde, ratio):
    plan = sample_size_proportions(base, mde, ratio=ratio, alpha=0.05, power=0.8)
    # statsmodels: sample 1 = treatment (prop2 + diff), nobs2 = ratio_sm * nobs1 → ratio_sm = n_c / n_t
    n_t = samplesize_proportions_2indep_onetail(base * mde, base, 0.8, ratio=1 / ratio, alpha=0.05)
    assert plan.n_treatment == math.ceil(n_t - 1e-9)
    assert plan.n_control == math.ceil(n_t / ratio - 1e-9)
    assert plan.mde_relative == pytest.approx(mde)
    assert plan.formula == "Fleiss et al. (2003) eq. 4.14, normal approximation, no continuity correction"


def test_rate_plan_total_and_days():
    plan = sample_size_proportions(0.05, 0.1, arms=3, daily_units=1000, coverage=0.5)
    assert plan.total == plan.n_control + 2 * plan.n_treatment
    assert plan.days == math.ceil(plan.total / 500)


def test_mean_sample_size_matches_statsmodels():
    plan = sample_size_means(20.0, 2.0, alpha=0.05, power=0.9, ratio=1.5)
    n1 = NormalIndPower().solve_power(effect_size=0.1, alpha=0.05, power=0.9, ratio=1.5)
    assert plan.n_control == math.ceil(n1)
    assert plan.n_treatment == math.ceil(1.5 * n1)


def test_mde_inverts_sample_size():
    mde = mde_proportions(0.1, 5000)
    power = power_proportions_2indep(mde, 0.1, 5000, ratio=1, alpha=0.05).power
    assert power == pytest.approx(0.8, abs=1e-6)
    m = mde_means(10.0, 1000)
    # statsmodels' two-sided power adds the (negligible) opposite tail, hence the 1e-5 tolerance
    assert NormalIndPower().power(effect_size=m / 10.0, nobs1=1000, alpha=0.05) == pytest.approx(
        0.8, abs=1e-5
    )


def test_days_to_run():
    assert days_to_run(10_001, 1000) == 11
    with pytest.raises(InvalidParameterError) as exc:
        days_to_run(10, 0)
    assert str(exc.value) == "'daily_units' must be a finite number > 0 (got daily_units=0)"


def test_bad_inputs():
    with pytest.raises(InvalidParameterError) as exc:
        sample_size_proportions(1.2, 0.1)
    assert str(exc.value) == "'baseline' must be a rate in (0, 1) (got baseline=1.2)"
    with pytest.raises(InvalidParameterError) as exc:
        sample_size_proportions(0.5, 1.5)
    assert (
        str(exc.value) == "'mde' must give a treatment rate in (0, 1) other than the baseline (got mde=1.5)"
    )
    with pytest.raises(InvalidParameterError) as exc:
        sample_size_proportions(0.5, 0.1, power=1)
    assert str(exc.value) == "'power' must be a number in (0, 1) (got power=1)"
    with pytest.raises(InvalidParameterError) as exc:
        mde_proportions(0.1, 3)
    assert str(exc.value) == "'n_control' is too small to detect any increase of the rate (got n_control=3)"
