"""Calibration/holdout validation of the BG/NBD model and the discounted customer lifetime value.

The holdout check follows Fader, Hardie & Lee (2005), section 4 and figure 4: customers are grouped by their
calibration-period repeat purchases ``x`` (``max_frequency`` and above pooled), and the mean of the model's
conditional expectation E[Y(t) | x, t_x, T] over the holdout length is compared with the mean number of
purchases actually made in the holdout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analytics.errors import InvalidParameterError
from analytics.ltv.bgnbd import BetaGeoModel
from analytics.ltv.gamma_gamma import GammaGammaModel
from analytics.ltv.summary import MONTH_DAYS, TIME_UNIT_DAYS

__all__ = ["HoldoutCheck", "customer_lifetime_value", "holdout_check"]

_REQUIRED = ("frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout")


@dataclass(frozen=True)
class HoldoutCheck:
    """Predicted vs actual holdout purchases.

    Attributes
    ----------
    by_frequency:
        One row per calibration frequency bucket: ``n_customers``, ``actual_mean``, ``predicted_mean``,
        ``actual_total``, ``predicted_total``. The last bucket is labelled ``"<max>+"``.
    actual_total, predicted_total:
        Holdout purchases over all customers.
    relative_error:
        ``(predicted_total - actual_total) / actual_total`` (NaN with an explanation when actual is 0).
    mean_absolute_error:
        Per-customer mean |predicted - actual|.
    note:
        Empty, or why a figure is undefined.
    """

    by_frequency: pd.DataFrame
    actual_total: float
    predicted_total: float
    relative_error: float
    mean_absolute_error: float
    note: str = ""


def holdout_check(model: BetaGeoModel, cal_holdout: pd.DataFrame, max_frequency: int = 7) -> HoldoutCheck:
    """Compare the fitted model's holdout predictions with the holdout purchases.

    Parameters
    ----------
    model:
        A :class:`BetaGeoModel` fitted on the calibration columns of ``cal_holdout``.
    cal_holdout:
        Output of :func:`~analytics.ltv.calibration_and_holdout`.
    max_frequency:
        Calibration frequencies at or above this are pooled (the paper uses 7+).
    """
    missing = [c for c in _REQUIRED if c not in cal_holdout.columns]
    if missing:
        raise InvalidParameterError(
            "cal_holdout", f"'cal_holdout' must have columns {list(_REQUIRED)} (missing {missing})"
        )
    if max_frequency < 1:
        raise InvalidParameterError("max_frequency", f"'max_frequency' must be >= 1 (got {max_frequency})")
    duration = float(cal_holdout["duration_holdout"].iloc[0])
    pred = model.conditional_expected_purchases(
        duration, cal_holdout["frequency_cal"], cal_holdout["recency_cal"], cal_holdout["T_cal"]
    )
    actual = cal_holdout["frequency_holdout"].to_numpy(dtype=float)
    bucket = np.minimum(cal_holdout["frequency_cal"].to_numpy(dtype=int), max_frequency)
    frame = pd.DataFrame({"bucket": bucket, "actual": actual, "predicted": pred})
    g = frame.groupby("bucket")
    table = pd.DataFrame(
        {
            "n_customers": g.size(),
            "actual_mean": g["actual"].mean(),
            "predicted_mean": g["predicted"].mean(),
            "actual_total": g["actual"].sum(),
            "predicted_total": g["predicted"].sum(),
        }
    )
    table.index = [f"{b}+" if b == max_frequency else str(b) for b in table.index]
    table.index.name = "frequency_cal"
    a_tot, p_tot = float(actual.sum()), float(pred.sum())
    note = "" if a_tot > 0 else "no purchase in the holdout: relative error undefined"
    rel = (p_tot - a_tot) / a_tot if a_tot > 0 else float("nan")
    return HoldoutCheck(table, a_tot, p_tot, rel, float(np.mean(np.abs(pred - actual))), note)


def customer_lifetime_value(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    time_unit: str = "W",
) -> NDArray[np.float64]:
    """Discounted expected value of each customer's purchases over the next ``months``.

    ``CLV = sum_{i=1..months} (E[Y(i m)] - E[Y((i-1) m)]) * E[M] / (1 + d)^i``, with ``E[Y]`` the BG/NBD
    conditional expectation (FHL 2005, eq. 10), ``E[M]`` the Gamma-Gamma conditional mean spend, ``d`` the
    monthly discount rate and ``m`` the month length in the model's time unit: a month is 365.25 / 12 =
    30.4375 days, i.e. 4.348 weeks for ``time_unit="W"``. Each month's purchases are discounted at its end.
    """
    if time_unit not in TIME_UNIT_DAYS:
        raise InvalidParameterError(
            "time_unit", f"'time_unit' must be one of {sorted(TIME_UNIT_DAYS)} (got {time_unit!r})"
        )
    if int(months) != months or months < 1:
        raise InvalidParameterError("months", f"'months' must be a whole number >= 1 (got {months!r})")
    if not np.isfinite(monthly_discount_rate) or monthly_discount_rate <= -1:
        raise InvalidParameterError(
            "monthly_discount_rate", f"'monthly_discount_rate' must be > -1 (got {monthly_discount_rate!r})"
        )
    month = MONTH_DAYS / TIME_UNIT_DAYS[time_unit]
    spend = gamma_gamma.conditional_expected_average_value(frequency, monetary_value)
    total = np.zeros_like(spend)
    previous = np.zeros_like(spend)
    for i in range(1, int(months) + 1):
        current = bgnbd.conditional_expected_purchases(i * month, frequency, recency, T)
        total += (current - previous) * spend / (1 + monthly_discount_rate) ** i
        previous = current
    return total
