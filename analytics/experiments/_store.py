"""Persistence of tests (``ab_tests``) and first exposures (``ab_assignments``), with the test lifecycle.

Lifecycle: ``draft → running ⇄ paused → stopped → archived`` (a draft may also be archived). Changing the
weights or coverage of a test appends a new :class:`Phase`; units already exposed keep their recorded variant
(assignments are sticky), new units follow the new weights, and the analysis checks each phase's sample ratio
against its own weights.

Exposure logging: the first time a unit in the test is asked for, one row ``(test_id, unit_id, variant, phase,
hash_value, first_exposure_at)`` is inserted with insert-or-ignore semantics, so concurrent first calls cannot
create two rows and later calls return the recorded variant.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from analytics.errors import InvalidParameterError, NotFoundError
from analytics.experiments._config import STATUSES, TEST_TYPES, ExperimentConfig, Phase, Variant, iso
from analytics.experiments._hashing import Assigner, Assignment
from analytics.schema import ab_assignments, ab_tests
from analytics.storage import EXPOSURE_COLUMNS, to_naive_utc, write_exposures

__all__ = [
    "archive_test",
    "create_test",
    "get_test",
    "get_variant",
    "list_tests",
    "pause_test",
    "record_exposures",
    "set_weights",
    "start_test",
    "stop_test",
]

_TRANSITIONS = {
    "start": (("draft", "paused"), "running"),
    "pause": (("running",), "paused"),
    "stop": (("running", "paused"), "stopped"),
    "archive": (("stopped", "draft"), "archived"),
}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "test"


def _check_weights(weights: Sequence[float], n: int) -> tuple[float, ...]:
    w = tuple(float(x) for x in weights)
    if len(w) != n or any(x <= 0 for x in w) or abs(sum(w) - 1) > 1e-6:
        raise InvalidParameterError(
            "weights", f"'weights' must be {n} positive numbers summing to 1 (got weights={list(weights)})"
        )
    return w


def _check_coverage(coverage: float) -> float:
    if not isinstance(coverage, int | float) or not 0 < coverage <= 1:
        raise InvalidParameterError("coverage", f"'coverage' must be in (0, 1] (got coverage={coverage!r})")
    return float(coverage)


def create_test(
    engine: Engine,
    *,
    name: str,
    test_type: str,
    variants: Sequence[Variant],
    unit: str = "user",
    coverage: float = 1.0,
    primary_metric: str = "conversion",
    guardrail_metrics: Sequence[str] = (),
    exposure_event: str | None = None,
    test_id: str | None = None,
    seed: str | None = None,
    hash_version: int = 2,
    description: str = "",
    now: datetime | None = None,
) -> ExperimentConfig:
    """Create a test in status ``draft`` and return its configuration.

    ``test_id`` defaults to a slug of the name plus 8 random hex digits; ``seed`` defaults to the test id.
    Variants' weights must sum to 1; the first variant is the control.
    """
    from analytics.experiments._metrics import METRICS

    if test_type not in TEST_TYPES:
        raise InvalidParameterError(
            "test_type", f"'test_type' must be one of {', '.join(TEST_TYPES)} (got test_type={test_type!r})"
        )
    if unit not in ("user", "session"):
        raise InvalidParameterError("unit", f"'unit' must be 'user' or 'session' (got unit={unit!r})")
    if len(variants) < 2 or len({v.name for v in variants}) != len(variants):
        raise InvalidParameterError(
            "variants",
            f"'variants' must be at least 2 uniquely named arms (got {[v.name for v in variants]})",
        )
    for metric in (primary_metric, *guardrail_metrics):
        if metric not in METRICS:
            raise InvalidParameterError(
                "metric", f"metrics must be one of {', '.join(METRICS)} (got {metric!r})"
            )
    weights = _check_weights([v.weight for v in variants], len(variants))
    now = now or _now()
    test_id = test_id or f"{_slug(name)}-{uuid.uuid4().hex[:8]}"
    cfg = ExperimentConfig(
        test_id=test_id,
        name=name,
        test_type=test_type,
        variants=tuple(variants),
        unit=unit,  # type: ignore[arg-type]
        primary_metric=primary_metric,
        guardrail_metrics=tuple(guardrail_metrics),
        exposure_event=exposure_event,
        seed=seed or test_id,
        hash_version=hash_version,
        phases=(Phase(0, weights, _check_coverage(coverage), None),),
        description=description,
    )
    with engine.begin() as conn:
        if conn.execute(select(ab_tests.c.id).where(ab_tests.c.test_id == test_id)).first():
            raise InvalidParameterError(
                "test_id", f"'test_id' must be new (got test_id={test_id!r}, which exists)"
            )
        conn.execute(
            ab_tests.insert().values(
                test_id=test_id, test_name=name, test_type=test_type, status="draft", config=cfg.to_json(),
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return cfg


def _load(conn: Connection, test_id: str) -> ExperimentConfig:
    q = select(ab_tests.c.config, ab_tests.c.status).where(ab_tests.c.test_id == test_id)
    row = conn.execute(q).first()
    if row is None:
        raise NotFoundError("test", test_id)
    cfg = ExperimentConfig.from_json(dict(row.config))
    return replace(cfg, status=row.status)


def _save(conn: Connection, cfg: ExperimentConfig, now: datetime) -> None:
    conn.execute(
        update(ab_tests)
        .where(ab_tests.c.test_id == cfg.test_id)
        .values(status=cfg.status, config=cfg.to_json(), updated_at=now)
    )


def get_test(engine: Engine | Connection, test_id: str) -> ExperimentConfig:
    """The stored configuration of ``test_id`` (raises :class:`NotFoundError`)."""
    if isinstance(engine, Connection):
        return _load(engine, test_id)
    with engine.connect() as conn:
        return _load(conn, test_id)


def list_tests(engine: Engine, status: str | Sequence[str] | None = None) -> list[ExperimentConfig]:
    """All tests, optionally only those in ``status`` (one or several), oldest first."""
    q = select(ab_tests.c.test_id).order_by(ab_tests.c.id)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise InvalidParameterError(
                "status", f"'status' must be among {', '.join(STATUSES)} (got {', '.join(bad)})"
            )
        q = q.where(ab_tests.c.status.in_(wanted))
    with engine.connect() as conn:
        return [_load(conn, tid) for tid in conn.execute(q).scalars()]


def _transition(engine: Engine, test_id: str, action: str, now: datetime | None) -> ExperimentConfig:
    allowed, target = _TRANSITIONS[action]
    now = now or _now()
    with engine.begin() as conn:
        cfg = _load(conn, test_id)
        if cfg.status not in allowed:
            raise InvalidParameterError(
                "status",
                f"cannot {action} test {test_id!r}: its status must be {' or '.join(allowed)} "
                f"(got {cfg.status})",
            )
        changes: dict[str, Any] = {"status": target}
        if action == "start" and cfg.started_at is None:
            changes["started_at"] = iso(now)
            phases = list(cfg.phases)
            phases[-1] = replace(phases[-1], started_at=iso(now))
            changes["phases"] = tuple(phases)
        if action == "stop":
            changes["stopped_at"] = iso(now)
        cfg = replace(cfg, **changes)
        _save(conn, cfg, now)
    return cfg


def start_test(engine: Engine, test_id: str, *, now: datetime | None = None) -> ExperimentConfig:
    """Start (or resume) a draft or paused test."""
    return _transition(engine, test_id, "start", now)


def pause_test(engine: Engine, test_id: str, *, now: datetime | None = None) -> ExperimentConfig:
    """Pause a running test: nobody new is exposed; recorded units keep their variant."""
    return _transition(engine, test_id, "pause", now)


def stop_test(engine: Engine, test_id: str, *, now: datetime | None = None) -> ExperimentConfig:
    """Stop a running or paused test for good."""
    return _transition(engine, test_id, "stop", now)


def archive_test(engine: Engine, test_id: str, *, now: datetime | None = None) -> ExperimentConfig:
    """Archive a stopped (or never started) test."""
    return _transition(engine, test_id, "archive", now)


def set_weights(
    engine: Engine,
    test_id: str,
    weights: Sequence[float],
    *,
    coverage: float | None = None,
    now: datetime | None = None,
) -> ExperimentConfig:
    """Change the weights (and optionally coverage) of a test, starting a new phase if it has started."""
    now = now or _now()
    with engine.begin() as conn:
        cfg = _load(conn, test_id)
        if cfg.status in ("stopped", "archived"):
            raise InvalidParameterError(
                "status", f"cannot change weights of test {test_id!r}: it is {cfg.status}"
            )
        w = _check_weights(weights, len(cfg.variants))
        cov = _check_coverage(coverage) if coverage is not None else cfg.current_phase.coverage
        variants = tuple(replace(v, weight=x) for v, x in zip(cfg.variants, w, strict=True))
        if cfg.started_at is None:
            phases = (Phase(0, w, cov, None),)
        else:
            phases = (*cfg.phases, Phase(cfg.current_phase.index + 1, w, cov, iso(now)))
        cfg = replace(cfg, variants=variants, phases=phases)
        _save(conn, cfg, now)
    return cfg


def assigner_for(cfg: ExperimentConfig) -> Assigner:
    """The compiled assignment rule of the test's current phase."""
    p = cfg.current_phase
    return Assigner(
        cfg.seed, cfg.variant_names, weights=p.weights, coverage=p.coverage, hash_version=cfg.hash_version,
        test_id=cfg.test_id, phase=p.index,
    )  # fmt: skip


def record_exposures(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert first-exposure rows, ignoring units already recorded (bulk form of the exposure log; see
    :func:`analytics.storage.write_exposures`, which takes the same rows as tuples)."""
    write_exposures(conn, [(*(r[c] for c in EXPOSURE_COLUMNS[:-1]),
                            to_naive_utc(r["first_exposure_at"], "first_exposure_at")) for r in rows])  # fmt: skip


def get_variant(
    engine: Engine, test_id: str, unit_id: str, *, record: bool = True, now: datetime | None = None
) -> Assignment:
    """Which variant ``unit_id`` sees in ``test_id``, logging its first exposure.

    A recorded unit gets its recorded variant (``sticky=True``). Otherwise the unit is hashed with the
    current phase; if it is in the test and ``record`` is true, its exposure is inserted (insert-or-ignore, so
    a concurrent first call cannot record a different variant: the stored row is re-read and returned).
    A test that is not running exposes nobody: everyone gets control with ``in_test=False``.
    """
    unit = str(unit_id)
    if not unit or len(unit) > 100:
        raise InvalidParameterError("unit_id", f"'unit_id' must be 1 to 100 characters (got {len(unit)})")
    with engine.begin() as conn:
        cfg = _load(conn, test_id)
        a = assigner_for(cfg)
        recorded = conn.execute(
            select(ab_assignments.c.variant, ab_assignments.c.phase, ab_assignments.c.hash_value).where(
                ab_assignments.c.test_id == test_id, ab_assignments.c.unit_id == unit
            )
        ).first()
        if recorded is not None:
            names = cfg.variant_names
            idx = names.index(recorded.variant) if recorded.variant in names else 0
            return Assignment(
                test_id, unit, recorded.variant, idx, True, cfg.seed, cfg.hash_version,
                float(recorded.hash_value if recorded.hash_value is not None else -1.0), recorded.phase, True,
            )  # fmt: skip
        result = a(unit)
        if cfg.status != "running":
            return replace(result, variant=cfg.variant_names[0], variation_index=0, in_test=False)
        if result.in_test and record:
            record_exposures(
                conn,
                [{"test_id": test_id, "unit_id": unit, "variant": result.variant, "phase": result.phase,
                  "hash_value": result.bucket, "first_exposure_at": now or _now()}],
            )  # fmt: skip
            stored = conn.execute(
                select(ab_assignments.c.variant).where(
                    ab_assignments.c.test_id == test_id, ab_assignments.c.unit_id == unit
                )
            ).scalar_one()
            if stored != result.variant:
                idx = cfg.variant_names.index(stored)
                return replace(result, variant=stored, variation_index=idx, sticky=True)
        return result
