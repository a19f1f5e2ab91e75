"""Customer lifetime value: BG/NBD + Gamma-Gamma CLV, survival LTV for subscriptions, historical LTV.

Time unit: the predictive models work in whatever unit their inputs use; :func:`summary_from_transactions`
produces days, weeks (7 days) or months (365.25 / 12 = 30.4375 days), weeks by default as in the CDNOW
benchmark, and :func:`customer_lifetime_value` converts monthly horizons with that month length.
"""

from analytics.ltv._mle import FitDiagnostics
from analytics.ltv.bgnbd import BetaGeoModel
from analytics.ltv.cdnow import cdnow_dir, load_cdnow_transactions
from analytics.ltv.gamma_gamma import GammaGammaModel
from analytics.ltv.historical import ltv_by_segment, segment_ltv_table
from analytics.ltv.holdout import HoldoutCheck, customer_lifetime_value, holdout_check
from analytics.ltv.subscriptions import subscription_churn, subscription_ltv, subscriptions
from analytics.ltv.summary import (
    MONTH_DAYS,
    TIME_UNIT_DAYS,
    calibration_and_holdout,
    summary_from_transactions,
)
from analytics.ltv.survival import SurvivalLTV, survival_ltv

__all__ = [
    "MONTH_DAYS",
    "TIME_UNIT_DAYS",
    "BetaGeoModel",
    "FitDiagnostics",
    "GammaGammaModel",
    "HoldoutCheck",
    "SurvivalLTV",
    "calibration_and_holdout",
    "cdnow_dir",
    "customer_lifetime_value",
    "holdout_check",
    "load_cdnow_transactions",
    "ltv_by_segment",
    "segment_ltv_table",
    "subscription_churn",
    "subscription_ltv",
    "subscriptions",
    "summary_from_transactions",
    "survival_ltv",
]
