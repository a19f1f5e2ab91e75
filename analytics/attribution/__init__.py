"""Revenue attribution by traffic source: rule-based models and the Markov removal-effect model."""

from analytics.attribution._api import CHANNEL_KEYS, attribute, load_touches_and_conversions
from analytics.attribution._models import (
    DIRECT,
    MODELS,
    apportion,
    markov_removal_effects,
    touch_weights,
)

__all__ = [
    "CHANNEL_KEYS",
    "DIRECT",
    "MODELS",
    "apportion",
    "attribute",
    "load_touches_and_conversions",
    "markov_removal_effects",
    "touch_weights",
]
