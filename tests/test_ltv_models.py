"""BG/NBD and Gamma-Gamma: published CDNOW estimates, independent numerical integration, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from analytics.errors import InvalidParameterError
from analytics.ltv import (
    BetaGeoModel,
    GammaGammaModel,
    calibration_and_holdout,
    cdnow_dir,
    customer_lifetime_value,
    holdout_check,
    load_cdnow_transactions,
    summary_from_transactions,
)

pytestmark = pytest.mark.skipif(
    not (cdnow_dir() / "CDNOW_sample.txt").exists(), reason="CDNOW data not present"
)

PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    tx = load_cdnow_transactions("sample")
    return summary_from_transactions(tx, monetary_col="dollars", observation_end="1997-09-30", time_unit="W")


@pytest.fixture(scope="module")
def bgnbd(summary: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])


@pytest.fixture(scope="module")
def gamma_gamma(summary: pd.DataFrame) -> GammaGammaModel:
    rep = summary[summary["frequency"] > 0]
    return GammaGammaModel().fit(rep["frequency"], rep["monetary_value"])


def test_summary_reproduces_hardies_file(summary: pd.DataFrame) -> None:
    ref = pd.read_csv(cdnow_dir() / "cdnow_customers_summary.csv").set_index("ID")
    assert len(summary) == 2357
    assert (summary["frequency"].to_numpy() == ref["frequency"].to_numpy()).all()
    np.testing.assert_allclose(summary["recency"].round(2), ref["recency"], atol=1e-9)
    np.testing.assert_allclose(summary["T"].round(2), ref["T"], atol=1e-9)
    assert int((summary["frequency"] > 0).sum()) == 946


def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd: BetaGeoModel) -> None:
    for name, value in PUBLISHED.items():
        assert round(bgnbd.params_[name], 3) == value
    assert bgnbd.diagnostics_ is not None
    assert round(bgnbd.diagnostics_.log_likelihood, 1) == -9582.4
    assert bgnbd.diagnostics_.converged
    assert bgnbd.diagnostics_.n_unique < bgnbd.diagnostics_.n_customers == 2357
    for name, (lo, hi) in bgnbd.conf_int_.items():
        assert lo < bgnbd.params_[name] < hi


def test_gamma_gamma_reproduces_published(gamma_gamma: GammaGammaModel) -> None:
    p = gamma_gamma.params_
    assert (round(p["p"], 2), round(p["q"], 2), round(p["gamma"], 2)) == (6.25, 3.74, 15.44)
    assert gamma_gamma.diagnostics_ is not None and gamma_gamma.diagnostics_.n_customers == 946


def _lambda_moment(x: int, c: float) -> float:
    """E[lambda^x exp(-lambda c)] under Gamma(r, alpha): the lambda integral of FHL (2005) eq. (3)."""
    r, alpha = PUBLISHED["r"], PUBLISHED["alpha"]
    return float(
        np.exp(special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + c))
    )


def _p_integral(func) -> float:  # noqa: ANN001
    """Integrate ``func(p)`` against the Beta(a, b) density by adaptive quadrature."""
    a, b = PUBLISHED["a"], PUBLISHED["b"]
    return integrate.quad(lambda p: func(p) * stats.beta.pdf(p, a, b), 0, 1, epsabs=1e-14, limit=200)[0]


def _individual(x: int, tx: float, T: float) -> tuple[float, float]:
    """(likelihood, alive part) of FHL (2005) eq. (3) mixed over lambda and p."""
    alive = _p_integral(lambda p: (1 - p) ** x * _lambda_moment(x, T))
    dead = _p_integral(lambda p: p * (1 - p) ** (x - 1) * _lambda_moment(x, tx)) if x > 0 else 0.0
    return alive + dead, alive


def test_loglik_matches_numerical_integration() -> None:
    model = BetaGeoModel()
    model.params_ = dict(PUBLISHED)
    for x, tx, T in [(2, 30.43, 38.86), (0, 0.0, 38.86), (7, 37.0, 38.0)]:
        lik, _ = _individual(x, tx, T)
        assert model.log_likelihood([x], [tx], [T])[0] == pytest.approx(np.log(lik), abs=1e-7)


def test_expected_purchases_matches_integration() -> None:
    model = BetaGeoModel()
    model.params_ = dict(PUBLISHED)
    r, alpha = PUBLISHED["r"], PUBLISHED["alpha"]
    t = 39.0
    # E[X(t) | lambda, p] = (1 - exp(-lambda p t)) / p (FHL 2005 eq. 7); mixing over lambda gives this:
    val = _p_integral(lambda p: (1 - (alpha / (alpha + p * t)) ** r) / p)
    assert model.expected_purchases([t])[0] == pytest.approx(val, rel=1e-7)


def test_conditional_expectation_and_p_alive_match_integration() -> None:
    model = BetaGeoModel()
    model.params_ = dict(PUBLISHED)
    x, tx, T, t = 2, 30.43, 38.86, 39.0
    total, alive = _individual(x, tx, T)
    # alive at T with rate lambda, p: expected purchases in (T, T+t] = (1 - exp(-lambda p t)) / p
    num = _p_integral(lambda p: (1 - p) ** x * (_lambda_moment(x, T) - _lambda_moment(x, T + p * t)) / p)
    assert model.probability_alive([x], [tx], [T])[0] == pytest.approx(alive / total, rel=1e-7)
    assert model.conditional_expected_purchases(t, [x], [tx], [T])[0] == pytest.approx(num / total, rel=1e-7)
    assert model.probability_alive([0], [0], [T])[0] == 1.0


def test_gamma_gamma_density_matches_integration() -> None:
    from analytics.ltv.gamma_gamma import _gg_loglik

    p, q, g, x, m = 6.25, 3.74, 15.44, 3, 35.0
    # sum of x Gamma(p, rate nu) is Gamma(px, nu); the mean has rate x*nu; nu ~ Gamma(q, rate g)
    val, _ = integrate.quad(
        lambda nu: stats.gamma.pdf(m, p * x, scale=1 / (x * nu)) * stats.gamma.pdf(nu, q, scale=1 / g),
        0,
        np.inf,
    )
    assert _gg_loglik(p, q, g, np.array([x]), np.array([m]))[0] == pytest.approx(np.log(val), abs=1e-8)


def test_gamma_gamma_conditional_mean_by_hand(gamma_gamma: GammaGammaModel) -> None:
    model = GammaGammaModel()
    model.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    # p (gamma + x m) / (p x + q - 1) = 6.25 * (15.44 + 2 * 20) / (12.5 + 2.74)
    assert model.conditional_expected_average_value([2, 0], [20.0, 0.0])[0] == pytest.approx(
        6.25 * 55.44 / 15.24, rel=1e-12
    )
    assert model.population_mean() == pytest.approx(6.25 * 15.44 / 2.74)


def test_weights_equal_repeated_rows(summary: pd.DataFrame) -> None:
    sub = summary.iloc[:400]
    grouped = sub.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    full = BetaGeoModel().fit(sub["frequency"], sub["recency"], sub["T"])
    weighted = BetaGeoModel().fit(
        grouped["frequency"], grouped["recency"], grouped["T"], weights=grouped["n"]
    )
    for k in PUBLISHED:
        assert weighted.params_[k] == pytest.approx(full.params_[k], rel=1e-5)


def test_holdout_counts_and_predictions(bgnbd: BetaGeoModel) -> None:
    tx = load_cdnow_transactions("sample")
    ch = calibration_and_holdout(
        tx, calibration_end="1997-09-30", observation_end="1998-06-30", monetary_col="dollars"
    )
    # independent count: distinct purchase days in the holdout
    hold = tx[(tx["date"] > "1997-09-30") & (tx["date"] <= "1998-06-30")].drop_duplicates(
        ["customer_id", "date"]
    )
    assert ch["frequency_holdout"].sum() == len(hold) == 1882
    assert ch["duration_holdout"].iloc[0] == 39.0
    check = holdout_check(bgnbd, ch)
    assert check.actual_total == 1882.0
    assert list(check.by_frequency.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert check.by_frequency["n_customers"].tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert abs(check.relative_error) < 0.15


def test_clv_one_month_by_hand() -> None:
    bg = BetaGeoModel()
    bg.params_ = dict(PUBLISHED)
    gg = GammaGammaModel()
    gg.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    month = 365.25 / 12 / 7
    ey = bg.conditional_expected_purchases(month, [2], [30.43], [38.86])[0]
    clv = customer_lifetime_value(bg, gg, [2], [30.43], [38.86], [20.0], months=1, monthly_discount_rate=0.01)
    assert clv[0] == pytest.approx(ey * 6.25 * 55.44 / 15.24 / 1.01, rel=1e-12)


def test_degenerate_data_reports_instead_of_failing() -> None:
    model = BetaGeoModel().fit([0, 0, 0], [0, 0, 0], [10, 20, 30])
    assert model.diagnostics_ is not None
    assert not model.diagnostics_.converged


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1.5], [1], [2]), "'frequency' must be whole numbers (got 1.5 at position 0)"),
        (([1], [3], [2]), "'recency' must be <= T (got recency=3.0, T=2.0 at position 0)"),
        (([0], [1], [2]), "'recency' must be 0 when frequency is 0 (got recency=1.0 at position 0)"),
        (([1], [1], [0]), "'T' must be > 0 (got 0.0 at position 0)"),
        (
            ([1, 2], [1], [2]),
            "frequency, recency, T must have the same length (got frequency=2, recency=1, T=1)",
        ),
        (([np.nan], [1], [2]), "'frequency' must be finite (got nan at position 0)"),
    ],
)
def test_bgnbd_errors(args: tuple, message: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        BetaGeoModel().fit(*args)
    assert str(err.value) == message


def test_unfitted_and_gamma_gamma_errors() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"^BetaGeoModel must be fitted first \(got an unfitted model\)$"
    ):
        BetaGeoModel().expected_purchases([1.0])
    with pytest.raises(InvalidParameterError) as err:
        GammaGammaModel().fit([0], [10.0])
    assert (
        str(err.value) == "'frequency' must be whole numbers >= 1 (repeat buyers only; got 0.0 at position 0)"
    )
    with pytest.raises(InvalidParameterError) as err:
        GammaGammaModel().fit([1], [0.0])
    assert str(err.value) == "'monetary_value' must be > 0 (got 0.0 at position 0)"
