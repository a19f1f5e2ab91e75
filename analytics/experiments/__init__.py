"""A/B testing: GrowthBook-compatible assignment, test lifecycle, and the statistics to read a test."""

from analytics.experiments._analysis import (
    DECISION_RULE,
    Decision,
    ExperimentReport,
    MetricResult,
    VariantSummary,
    analyse,
    cumulative,
)
from analytics.experiments._config import (
    TEST_TYPES,
    ExperimentConfig,
    OfferConfig,
    PersonalizationConfig,
    Phase,
    RiskAlgorithmConfig,
    UrgencyMessagingConfig,
    Variant,
)
from analytics.experiments._hashing import (
    Assigner,
    Assignment,
    assign,
    choose_variation,
    fnv1a32,
    get_bucket_ranges,
    get_equal_weights,
    hash_many,
    hash_unit,
)
from analytics.experiments._metrics import METRICS, Metric
from analytics.experiments._results import experiment_sums
from analytics.experiments._service import ABTesting, ai_calculator_ab_testing
from analytics.experiments._stats import *  # noqa: F403
from analytics.experiments._stats import __all__ as _stats_all
from analytics.experiments._store import (
    archive_test,
    assigner_for,
    create_test,
    get_test,
    get_variant,
    list_tests,
    pause_test,
    record_exposures,
    set_weights,
    start_test,
    stop_test,
)
from analytics.experiments._tables import decisions_frame, results_frame, srm_frame

__all__ = [
    *_stats_all,
    "ABTesting",
    "DECISION_RULE",
    "Decision",
    "ExperimentConfig",
    "ExperimentReport",
    "METRICS",
    "Metric",
    "MetricResult",
    "OfferConfig",
    "PersonalizationConfig",
    "Phase",
    "RiskAlgorithmConfig",
    "TEST_TYPES",
    "UrgencyMessagingConfig",
    "Variant",
    "VariantSummary",
    "ai_calculator_ab_testing",
    "analyse",
    "archive_test",
    "assigner_for",
    "create_test",
    "cumulative",
    "experiment_sums",
    "get_test",
    "get_variant",
    "list_tests",
    "pause_test",
    "record_exposures",
    "set_weights",
    "start_test",
    "stop_test",
    "decisions_frame",
    "results_frame",
    "srm_frame",
    "Assigner",
    "Assignment",
    "assign",
    "choose_variation",
    "fnv1a32",
    "get_bucket_ranges",
    "get_equal_weights",
    "hash_many",
    "hash_unit",
]
