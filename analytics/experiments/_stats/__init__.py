"""Statistics for A/B tests, as pure functions over per-variant sufficient statistics."""

from analytics.experiments._stats._types import EffectEstimate, Interval, JointStats, Lift, SampleStats
from analytics.experiments._stats.bayesian import (
    BayesianResult,
    beta_binomial,
    normal_means,
    prob_beta_greater,
)
from analytics.experiments._stats.cuped import CupedEstimate, cuped_theta, cuped_ttest
from analytics.experiments._stats.frequentist import (
    apply_holm,
    holm_adjust,
    mean_interval,
    proportion_interval,
    proportion_ztest,
    ratio_delta_test,
    welch_ttest,
)
from analytics.experiments._stats.power import (
    PowerPlan,
    days_to_run,
    mde_means,
    mde_proportions,
    sample_size_means,
    sample_size_proportions,
)
from analytics.experiments._stats.sequential import sequential_halfwidth, sequential_test
from analytics.experiments._stats.srm import SrmResult, srm_check

__all__ = [
    "BayesianResult",
    "CupedEstimate",
    "EffectEstimate",
    "Interval",
    "JointStats",
    "Lift",
    "PowerPlan",
    "SampleStats",
    "SrmResult",
    "apply_holm",
    "beta_binomial",
    "cuped_theta",
    "cuped_ttest",
    "days_to_run",
    "holm_adjust",
    "mde_means",
    "mde_proportions",
    "mean_interval",
    "normal_means",
    "prob_beta_greater",
    "proportion_interval",
    "proportion_ztest",
    "ratio_delta_test",
    "sample_size_means",
    "sample_size_proportions",
    "sequential_halfwidth",
    "sequential_test",
    "srm_check",
    "welch_ttest",
]
