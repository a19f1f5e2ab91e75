"""A/B testing: GrowthBook-compatible assignment, test lifecycle, and the statistics to read a test."""

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
from analytics.experiments._stats import *  # noqa: F403
from analytics.experiments._stats import __all__ as _stats_all

__all__ = [*_stats_all,
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
