"""Recency/frequency/monetary summaries from raw transactions, and calibration/holdout splits.

Conventions (those of Fader, Hardie & Lee 2005 and of Hardie's CDNOW summary file, which this reproduces
exactly): transactions on the same calendar day are one purchase (values summed); the first purchase is the
customer's "birth" and is not counted in ``frequency`` (repeat purchases only) nor in ``monetary_value`` (mean
value of the repeat purchases); ``recency`` is the time from the first to the last purchase and ``T`` the time
from the first purchase to the end of the observation period, both in the chosen time unit: ``"D"`` (day),
``"W"`` (7 days) or ``"M"`` (a mean calendar month of 365.25 / 12 = 30.4375 days).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from analytics.errors import InvalidParameterError

__all__ = ["MONTH_DAYS", "TIME_UNIT_DAYS", "calibration_and_holdout", "summary_from_transactions"]

MONTH_DAYS = 365.25 / 12
TIME_UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": MONTH_DAYS}


def _unit_days(time_unit: str) -> float:
    if time_unit not in TIME_UNIT_DAYS:
        raise InvalidParameterError(
            "time_unit", f"'time_unit' must be one of {sorted(TIME_UNIT_DAYS)} (got {time_unit!r})"
        )
    return TIME_UNIT_DAYS[time_unit]


def _daily(
    transactions: pd.DataFrame, customer_col: str, datetime_col: str, monetary_col: str | None
) -> pd.DataFrame:
    """One row per customer and calendar day, values summed; columns customer, day, value."""
    for col in (customer_col, datetime_col) + ((monetary_col,) if monetary_col else ()):
        if col not in transactions.columns:
            raise InvalidParameterError(
                "transactions",
                f"'transactions' must have a column {col!r} (got {list(transactions.columns)})",
            )
    ts = pd.to_datetime(transactions[datetime_col])
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    frame = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": ts.dt.floor("D").to_numpy(),
            "value": transactions[monetary_col].to_numpy(dtype=float) if monetary_col else 0.0,
        }
    )
    return frame.groupby(["customer", "day"], as_index=False, sort=True)["value"].sum()


def _to_naive(name: str, value: dt.date | dt.datetime | str | pd.Timestamp) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(name, f"'{name}' must be a date (got {value!r})") from exc
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.floor("D")


def _summarise(daily: pd.DataFrame, end: pd.Timestamp, unit: float) -> pd.DataFrame:
    grouped = daily.groupby("customer", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    n = grouped.size()
    first_value = grouped["value"].first()  # daily is sorted by customer, day
    total = grouped["value"].sum()
    frequency = (n - 1).astype(int)
    repeat_total = total - first_value
    monetary = (repeat_total / frequency.where(frequency > 0)).fillna(0.0)
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).dt.days / unit,
            "T": (end - first).dt.days / unit,
            "monetary_value": monetary,
        }
    )
    out.index.name = "customer_id"
    return out


def summary_from_transactions(
    transactions: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_col: str | None = None,
    observation_end: dt.date | dt.datetime | str | None = None,
    time_unit: str = "W",
) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per customer (conventions in the module docstring).

    Parameters
    ----------
    transactions:
        One row per transaction.
    customer_col, datetime_col, monetary_col:
        Column names; without ``monetary_col`` the ``monetary_value`` column is 0.
    observation_end:
        Last day observed (inclusive); transactions after it are ignored. Default: the last transaction day.
    time_unit:
        ``"D"``, ``"W"`` or ``"M"`` (see module docstring).

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id: ``frequency`` (int), ``recency``, ``T``, ``monetary_value``.
    """
    unit = _unit_days(time_unit)
    daily = _daily(transactions, customer_col, datetime_col, monetary_col)
    if daily.empty:
        raise InvalidParameterError("transactions", "'transactions' must not be empty (got 0 rows)")
    end = daily["day"].max() if observation_end is None else _to_naive("observation_end", observation_end)
    daily = daily[daily["day"] <= end]
    if daily.empty:
        raise InvalidParameterError(
            "observation_end", f"no transaction on or before 'observation_end' (got {end.date()})"
        )
    return _summarise(daily, end, unit)


def calibration_and_holdout(
    transactions: pd.DataFrame,
    *,
    calibration_end: dt.date | dt.datetime | str,
    observation_end: dt.date | dt.datetime | str,
    customer_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_col: str | None = None,
    time_unit: str = "W",
) -> pd.DataFrame:
    """Split transactions into a calibration summary and holdout counts (FHL 2005, section 4).

    Customers are those whose first purchase is on or before ``calibration_end``. Returns columns
    ``frequency_cal``, ``recency_cal``, ``T_cal``, ``monetary_value_cal`` (as
    :func:`summary_from_transactions` at ``calibration_end``), ``frequency_holdout`` (purchase days in
    ``(calibration_end, observation_end]``),
    ``monetary_value_holdout`` (their mean value, 0 without purchases) and ``duration_holdout`` (length of the
    holdout period in ``time_unit``).
    """
    unit = _unit_days(time_unit)
    cal_end = _to_naive("calibration_end", calibration_end)
    obs_end = _to_naive("observation_end", observation_end)
    if obs_end <= cal_end:
        raise InvalidParameterError(
            "observation_end",
            f"'observation_end' must be after 'calibration_end' (got observation_end={obs_end.date()}, "
            f"calibration_end={cal_end.date()})",
        )
    daily = _daily(transactions, customer_col, datetime_col, monetary_col)
    cal = daily[daily["day"] <= cal_end]
    if cal.empty:
        raise InvalidParameterError(
            "calibration_end", f"no transaction on or before 'calibration_end' (got {cal_end.date()})"
        )
    out = _summarise(cal, cal_end, unit).add_suffix("_cal")
    hold = daily[(daily["day"] > cal_end) & (daily["day"] <= obs_end) & daily["customer"].isin(out.index)]
    g = hold.groupby("customer")["value"]
    out["frequency_holdout"] = g.size().reindex(out.index, fill_value=0).astype(int)
    out["monetary_value_holdout"] = g.mean().reindex(out.index).fillna(0.0)
    out["duration_holdout"] = float((obs_end - cal_end).days / unit)
    return out
