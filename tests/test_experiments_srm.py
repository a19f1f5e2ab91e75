"""Sample ratio mismatch checked against scipy's chi-square test."""

from __future__ import annotations

import pytest
from scipy import stats

from analytics.errors import InvalidParameterError
from analytics.experiments import srm_check


def test_srm_passes_balanced():
    r = srm_check([5010, 4990], [0.5, 0.5])
    ref = stats.chisquare([5010, 4990], [5000, 5000])
    assert (r.chi2, r.p_value, r.df) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue), 1)
    assert r.ok
    assert (
        r.message == "SRM check passed (p = 0.841): observed split 50.1%, 49.9% vs configured 50.0%, 50.0%."
    )


def test_srm_fails_loudly_with_uneven_weights():
    r = srm_check([5000, 2000, 3300], [0.5, 0.2, 0.3])
    ref = stats.chisquare([5000, 2000, 3300], [5150, 2060, 3090])
    assert r.p_value == pytest.approx(ref.pvalue)
    assert not r.ok
    assert r.message.startswith("SAMPLE RATIO MISMATCH (p = ")
    assert r.message.endswith("do not trust any result of this test.")


def test_srm_no_units():
    r = srm_check([0, 0], [1, 1])
    assert (r.ok, r.p_value, r.message) == (True, 1.0, "No exposed units yet: nothing to check.")


def test_srm_bad_weights():
    with pytest.raises(InvalidParameterError) as exc:
        srm_check([1, 2], [1.0])
    assert (
        str(exc.value) == "'weights' must have one entry per arm and at least 2 arms (got 1 weights, 2 arms)"
    )
