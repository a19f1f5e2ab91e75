"""Typed configuration of a test: variants (with the four test types' payloads), phases, unit and metrics.

The whole configuration is stored as JSON in ``ab_tests.config`` (:meth:`ExperimentConfig.to_json`), so the
seed's table layout is kept and nothing else is needed to re-derive any assignment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from analytics.errors import InvalidParameterError

__all__ = [
    "TEST_TYPES",
    "ExperimentConfig",
    "OfferConfig",
    "PersonalizationConfig",
    "Phase",
    "RiskAlgorithmConfig",
    "UrgencyMessagingConfig",
    "Variant",
]

TEST_TYPES = ("conversion_offer", "risk_algorithm", "personalization", "urgency_messaging", "custom")
STATUSES = ("draft", "running", "paused", "stopped", "archived")
Unit = Literal["user", "session"]


@dataclass(frozen=True)
class OfferConfig:
    """A conversion offer: plan name shown, monthly price and listed features."""

    price: float
    features: tuple[str, ...] = ()
    plan: str | None = None


@dataclass(frozen=True)
class RiskAlgorithmConfig:
    """Which AI-risk scoring algorithm (and version/parameters) the calculator uses."""

    algorithm: str
    version: str = "1"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonalizationConfig:
    """How the result page is personalised (e.g. ``none``, ``industry``, ``role_and_industry``)."""

    strategy: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UrgencyMessagingConfig:
    """The urgency message shown with the offer, and its intensity."""

    message: str
    level: Literal["none", "soft", "strong"] = "none"


Payload = OfferConfig | RiskAlgorithmConfig | PersonalizationConfig | UrgencyMessagingConfig | dict[str, Any]
_PAYLOAD_TYPES: dict[str, type] = {
    "conversion_offer": OfferConfig,
    "risk_algorithm": RiskAlgorithmConfig,
    "personalization": PersonalizationConfig,
    "urgency_messaging": UrgencyMessagingConfig,
}


@dataclass(frozen=True)
class Variant:
    """One arm: its name, traffic weight and typed payload (what the calculator shows)."""

    name: str
    weight: float
    payload: Payload = field(default_factory=dict)


@dataclass(frozen=True)
class Phase:
    """A period of constant weights and coverage; a new phase starts whenever they change."""

    index: int
    weights: tuple[float, ...]
    coverage: float
    started_at: str | None = None


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything about one test.

    Attributes
    ----------
    test_id, name, test_type, status:
        Identity and lifecycle state (``draft → running ⇄ paused → stopped → archived``).
    variants:
        Arms, control first.
    unit:
        ``"user"`` (person id: user id, else session id) or ``"session"``.
    primary_metric, guardrail_metrics:
        Metric names from :data:`analytics.experiments.METRICS`.
    exposure_event:
        The event at which units are exposed (informational; exposure is logged by ``get_variant``).
    seed, hash_version:
        Hashing inputs (seed defaults to the test id).
    phases:
        Weight/coverage history; the last one is current.
    started_at, stopped_at:
        ISO timestamps (naive UTC) of the first start and of the stop.
    """

    test_id: str
    name: str
    test_type: str
    variants: tuple[Variant, ...]
    unit: Unit = "user"
    primary_metric: str = "conversion"
    guardrail_metrics: tuple[str, ...] = ()
    exposure_event: str | None = None
    seed: str = ""
    hash_version: int = 2
    phases: tuple[Phase, ...] = ()
    status: str = "draft"
    started_at: str | None = None
    stopped_at: str | None = None
    description: str = ""

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def current_phase(self) -> Phase:
        return self.phases[-1]

    def phase(self, index: int) -> Phase:
        for p in self.phases:
            if p.index == index:
                return p
        raise InvalidParameterError("phase", f"'phase' must be one of the test's phases (got phase={index})")

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in ``ab_tests.config``."""
        out = asdict(self)
        out["variants"] = [
            {"name": v.name, "weight": v.weight, "payload": _payload_json(v.payload)} for v in self.variants
        ]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Rebuild from ``ab_tests.config`` (payloads typed by ``test_type``)."""
        ptype = _PAYLOAD_TYPES.get(data["test_type"])
        variants = []
        for v in data["variants"]:
            payload = dict(v.get("payload") or {})
            if ptype is not None and payload:
                if "features" in payload:
                    payload["features"] = tuple(payload["features"])
                payload = ptype(**payload)
            variants.append(Variant(v["name"], float(v["weight"]), payload))
        phases = tuple(
            Phase(int(p["index"]), tuple(map(float, p["weights"])), float(p["coverage"]), p.get("started_at"))
            for p in data["phases"]
        )
        return cls(
            test_id=data["test_id"],
            name=data["name"],
            test_type=data["test_type"],
            variants=tuple(variants),
            unit=data.get("unit", "user"),
            primary_metric=data.get("primary_metric", "conversion"),
            guardrail_metrics=tuple(data.get("guardrail_metrics") or ()),
            exposure_event=data.get("exposure_event"),
            seed=data.get("seed") or data["test_id"],
            hash_version=int(data.get("hash_version", 2)),
            phases=phases,
            status=data.get("status", "draft"),
            started_at=data.get("started_at"),
            stopped_at=data.get("stopped_at"),
            description=data.get("description", ""),
        )


def _payload_json(payload: Payload) -> dict[str, Any]:
    return dict(payload) if isinstance(payload, dict) else asdict(payload)


def iso(ts: datetime) -> str:
    """Naive-UTC ISO string used inside the JSON config."""
    return ts.replace(tzinfo=None).isoformat(timespec="seconds")
