"""The seed's A/B testing object: ``ai_calculator_ab_testing`` and its class :class:`ABTesting`.

>>> from analytics import ai_calculator_ab_testing                       # doctest: +SKIP
>>> offers = [{'name': 'control', 'price': 49.99, 'features': ['basic']},
...           {'name': 'premium', 'price': 79.99, 'features': ['basic', 'advanced']}]
>>> test_id = ai_calculator_ab_testing.create_conversion_offer_test('Pricing Optimization Test', offers)
>>> ai_calculator_ab_testing.start_test(test_id)
>>> variant = ai_calculator_ab_testing.get_variant(test_id, user_id='user123')

The database is the configured one (``analytics.db.get_engine()``) unless an engine or URL is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from analytics.errors import InvalidParameterError
from analytics.experiments import _store
from analytics.experiments._analysis import ExperimentReport, analyse, cumulative
from analytics.experiments._config import (
    ExperimentConfig,
    OfferConfig,
    PersonalizationConfig,
    RiskAlgorithmConfig,
    UrgencyMessagingConfig,
    Variant,
)
from analytics.experiments._hashing import Assigner, Assignment
from analytics.experiments._results import experiment_sums

__all__ = ["ABTesting", "ai_calculator_ab_testing"]


def _weights(n: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise InvalidParameterError("weights", f"'weights' must have {n} entries (got {len(weights)})")
    return [float(w) for w in weights]


def _need(item: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in item:
        raise InvalidParameterError(what, f"each of {what!r} must have a {key!r} (got {dict(item)!r})")
    return item[key]


class ABTesting:
    """Create, run and read A/B tests of the calculator (the seed's ``ai_calculator_ab_testing``).

    Parameters
    ----------
    engine:
        Engine or URL; default: ``analytics.db.get_engine()`` resolved at first use.
    """

    def __init__(self, engine: Engine | str | None = None) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        from analytics.db import get_engine, upgrade

        if not isinstance(self._engine, Engine):
            self._engine = get_engine(self._engine)
            upgrade(self._engine)
        return self._engine

    # --- the four test types ------------------------------------------------------------------------------------
    def create_conversion_offer_test(
        self, name: str, offers: Sequence[Mapping[str, Any]], *, weights: Sequence[float] | None = None,
        coverage: float = 1.0, unit: str = "user", test_id: str | None = None,
    ) -> str:  # fmt: skip
        """A pricing/offer test; ``offers`` are ``{'name', 'price', 'features'}`` dicts, control first.

        Primary metric ``revenue`` (per unit), guardrail ``conversion``; exposure at ``conversion_offer_viewed``.
        """
        w = _weights(len(offers), weights)
        variants = [
            Variant(str(_need(o, "name", "offers")), wi,
                    OfferConfig(float(_need(o, "price", "offers")), tuple(o.get("features", ())), o.get("plan")))
            for o, wi in zip(offers, w, strict=True)
        ]  # fmt: skip
        return self._create(name, "conversion_offer", variants, unit, coverage, "revenue", ("conversion",),
                            "conversion_offer_viewed", test_id)  # fmt: skip

    def create_risk_algorithm_test(
        self, name: str, algorithms: Sequence[Mapping[str, Any]], *, weights: Sequence[float] | None = None,
        coverage: float = 1.0, unit: str = "session", test_id: str | None = None,
    ) -> str:  # fmt: skip
        """A risk-scoring algorithm test; ``algorithms`` are ``{'name', 'algorithm', 'version', 'params'}``.

        Primary metric ``conversion``, guardrail ``lead``; exposure at ``assessment_submitted``.
        """
        w = _weights(len(algorithms), weights)
        variants = [
            Variant(str(_need(a, "name", "algorithms")), wi,
                    RiskAlgorithmConfig(str(_need(a, "algorithm", "algorithms")), str(a.get("version", "1")),
                                        dict(a.get("params", {}))))
            for a, wi in zip(algorithms, w, strict=True)
        ]  # fmt: skip
        return self._create(name, "risk_algorithm", variants, unit, coverage, "conversion", ("lead",),
                            "assessment_submitted", test_id)  # fmt: skip

    def create_personalization_test(
        self, name: str, strategies: Sequence[Mapping[str, Any]], *, weights: Sequence[float] | None = None,
        coverage: float = 1.0, unit: str = "user", test_id: str | None = None,
    ) -> str:  # fmt: skip
        """A personalization test; ``strategies`` are ``{'name', 'strategy', 'params'}`` dicts, control first."""
        w = _weights(len(strategies), weights)
        variants = [
            Variant(str(_need(s, "name", "strategies")), wi,
                    PersonalizationConfig(str(_need(s, "strategy", "strategies")), dict(s.get("params", {}))))
            for s, wi in zip(strategies, w, strict=True)
        ]  # fmt: skip
        return self._create(name, "personalization", variants, unit, coverage, "conversion", ("revenue",),
                            "conversion_offer_viewed", test_id)  # fmt: skip

    def create_urgency_messaging_test(
        self, name: str, messages: Sequence[Mapping[str, Any]], *, weights: Sequence[float] | None = None,
        coverage: float = 1.0, unit: str = "session", test_id: str | None = None,
    ) -> str:  # fmt: skip
        """An urgency-messaging test; ``messages`` are ``{'name', 'message', 'level'}`` dicts, control first."""
        w = _weights(len(messages), weights)
        variants = [
            Variant(str(_need(m, "name", "messages")), wi,
                    UrgencyMessagingConfig(str(m.get("message", "")), m.get("level", "none")))
            for m, wi in zip(messages, w, strict=True)
        ]  # fmt: skip
        return self._create(name, "urgency_messaging", variants, unit, coverage, "conversion", ("revenue",),
                            "conversion_offer_viewed", test_id)  # fmt: skip

    def _create(self, name, test_type, variants, unit, coverage, primary, guards, exposure, test_id) -> str:
        cfg = _store.create_test(
            self.engine, name=name, test_type=test_type, variants=variants, unit=unit, coverage=coverage,
            primary_metric=primary, guardrail_metrics=guards, exposure_event=exposure, test_id=test_id,
        )  # fmt: skip
        return cfg.test_id

    # --- lifecycle --------------------------------------------------------------------------------------------------
    def start_test(self, test_id: str) -> ExperimentConfig:
        """Start (or resume) the test."""
        return _store.start_test(self.engine, test_id)

    def pause_test(self, test_id: str) -> ExperimentConfig:
        """Pause the test (no new exposures)."""
        return _store.pause_test(self.engine, test_id)

    def stop_test(self, test_id: str) -> ExperimentConfig:
        """Stop the test for good."""
        return _store.stop_test(self.engine, test_id)

    def archive_test(self, test_id: str) -> ExperimentConfig:
        """Archive a stopped test."""
        return _store.archive_test(self.engine, test_id)

    def set_weights(self, test_id: str, weights: Sequence[float], *, coverage: float | None = None) -> ExperimentConfig:
        """Change weights/coverage; a started test gets a new phase."""
        return _store.set_weights(self.engine, test_id, weights, coverage=coverage)

    def get_test(self, test_id: str) -> ExperimentConfig:
        """The test's configuration."""
        return _store.get_test(self.engine, test_id)

    def list_tests(self, status: str | Sequence[str] | None = None) -> list[ExperimentConfig]:
        """All tests (optionally filtered by status)."""
        return _store.list_tests(self.engine, status)

    # --- assignment ----------------------------------------------------------------------------------------------
    def get_variant(
        self, test_id: str, user_id: str | None = None, *, session_id: str | None = None, record: bool = True,
        now: datetime | None = None,
    ) -> Assignment:  # fmt: skip
        """The variant a unit sees, logging its first exposure (see :func:`analytics.experiments.get_variant`).

        Pass ``user_id`` for user-unit tests and ``session_id`` for session-unit tests (a user-unit test falls
        back to the session id for anonymous visitors, following the identity rule).
        """
        cfg_unit = _store.get_test(self.engine, test_id).unit
        unit_id = (session_id or user_id) if cfg_unit == "session" else (user_id or session_id)
        if not unit_id:
            raise InvalidParameterError("user_id", "'user_id' or 'session_id' must be given (got neither)")
        return _store.get_variant(self.engine, test_id, unit_id, record=record, now=now)

    def assigner(self, test_id: str) -> Assigner:
        """The compiled, in-process assignment rule of the test's current phase (no logging)."""
        return _store.assigner_for(_store.get_test(self.engine, test_id))

    # --- results --------------------------------------------------------------------------------------------------
    def get_results(
        self, test_id: str, *, alpha: float = 0.05, end: datetime | None = None, metrics: list[str] | None = None,
        phase: int | None = None, mde: float = 0.10,
    ) -> ExperimentReport:  # fmt: skip
        """Read the test: SRM, per-variant results, effects (frequentist, sequential, Bayesian, CUPED), decision."""
        cfg = _store.get_test(self.engine, test_id)
        wanted = metrics or list(dict.fromkeys([cfg.primary_metric, *cfg.guardrail_metrics, "conversion"]))
        sums = experiment_sums(self.engine, cfg, metrics=wanted, end=end)
        return analyse(cfg, sums, alpha=alpha, metrics=wanted, phase=phase, mde=mde)

    def get_cumulative(self, test_id: str, metric: str | None = None, *, alpha: float = 0.05,
                       end: datetime | None = None):  # fmt: skip
        """Cumulative relative lift by exposure day (see :func:`analytics.experiments.cumulative`)."""
        cfg = _store.get_test(self.engine, test_id)
        metric = metric or cfg.primary_metric
        return cumulative(cfg, experiment_sums(self.engine, cfg, metrics=[metric], end=end), metric, alpha=alpha)


#: The seed's module-level object, on the configured database.
ai_calculator_ab_testing = ABTesting()
