"""Test lifecycle, sticky assignment and exposure logging, phases (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from analytics.errors import InvalidParameterError, NotFoundError
from analytics.experiments import ABTesting, hash_unit
from analytics.schema import ab_assignments

OFFERS = [
    {"name": "control", "price": 49.99, "features": ["basic"]},
    {"name": "premium", "price": 79.99, "features": ["basic", "advanced"]},
    {"name": "pro", "price": 99.99, "features": ["basic", "advanced", "priority"]},
]


@pytest.fixture
def ab(engine):
    return ABTesting(engine)


def test_seed_example_runs_as_written(ab):
    test_id = ab.create_conversion_offer_test("Pricing Optimization Test", OFFERS)
    ab.start_test(test_id)
    variant = ab.get_variant(test_id, user_id="user123")
    assert test_id.startswith("pricing-optimization-test-")
    assert variant.variant in ("control", "premium", "pro") and variant.in_test
    assert variant.bucket == hash_unit(test_id, "user123")
    assert (variant.seed, variant.hash_version, variant.phase) == (test_id, 2, 0)
    cfg = ab.get_test(test_id)
    assert cfg.variants[1].payload.price == 79.99
    assert cfg.variants[2].payload.features == ("basic", "advanced", "priority")
    assert (cfg.primary_metric, cfg.guardrail_metrics, cfg.status) == ("revenue", ("conversion",), "running")


def test_four_constructors(ab):
    ids = [
        ab.create_risk_algorithm_test("Risk", [{"name": "v1", "algorithm": "rules"}, {"name": "v2", "algorithm": "gbm"}]),
        ab.create_personalization_test("P", [{"name": "c", "strategy": "none"}, {"name": "t", "strategy": "industry"}]),
        ab.create_urgency_messaging_test("U", [{"name": "c"}, {"name": "t", "message": "Hurry", "level": "soft"}]),
        ab.create_conversion_offer_test("O", OFFERS[:2], weights=[0.7, 0.3]),
    ]
    types = [ab.get_test(i).test_type for i in ids]
    assert types == ["risk_algorithm", "personalization", "urgency_messaging", "conversion_offer"]
    assert ab.get_test(ids[0]).variants[1].payload.algorithm == "gbm"
    assert ab.get_test(ids[0]).unit == "session"
    assert ab.get_test(ids[3]).current_phase.weights == (0.7, 0.3)


def test_offer_missing_price_message(ab):
    with pytest.raises(InvalidParameterError) as exc:
        ab.create_conversion_offer_test("X", [{"name": "a", "price": 1}, {"name": "b"}])
    assert str(exc.value) == "each of 'offers' must have a 'price' (got {'name': 'b'})"


def test_lifecycle_transitions(ab):
    tid = ab.create_personalization_test("L", [{"name": "c", "strategy": "a"}, {"name": "t", "strategy": "b"}])
    with pytest.raises(InvalidParameterError) as exc:
        ab.pause_test(tid)
    assert str(exc.value) == f"cannot pause test {tid!r}: its status must be running (got draft)"
    assert ab.start_test(tid).status == "running"
    assert ab.pause_test(tid).status == "paused"
    assert ab.start_test(tid).status == "running"
    stopped = ab.stop_test(tid)
    assert stopped.status == "stopped" and stopped.stopped_at is not None
    assert ab.archive_test(tid).status == "archived"
    assert [t.test_id for t in ab.list_tests("archived")] == [tid]
    with pytest.raises(NotFoundError) as exc2:
        ab.get_test("nope")
    assert str(exc2.value) == "test 'nope' does not exist"


def test_not_running_exposes_nobody(ab, engine):
    tid = ab.create_personalization_test("N", [{"name": "c", "strategy": "a"}, {"name": "t", "strategy": "b"}])
    a = ab.get_variant(tid, user_id="u1")
    assert (a.variant, a.in_test) == ("c", False)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ab_assignments)).scalar_one() == 0


def test_first_exposure_logged_once_and_sticky(ab, engine):
    tid = ab.create_personalization_test("S", [{"name": "c", "strategy": "a"}, {"name": "t", "strategy": "b"}])
    ab.start_test(tid)
    t0 = datetime(2026, 1, 1, 12)
    first = ab.get_variant(tid, user_id="u42", now=t0)
    again = ab.get_variant(tid, user_id="u42", now=datetime(2026, 1, 2))
    assert (first.sticky, again.sticky, again.variant) == (False, True, first.variant)
    with engine.connect() as conn:
        rows = conn.execute(select(ab_assignments)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["first_exposure_at"] == t0 and rows[0]["variant"] == first.variant
    assert rows[0]["hash_value"] == first.bucket


def test_weight_change_starts_phase_and_keeps_exposed_units(ab):
    tid = ab.create_urgency_messaging_test("W", [{"name": "c"}, {"name": "t"}], weights=[0.5, 0.5])
    ab.start_test(tid)
    units = [f"s{i}" for i in range(200)]
    before = {u: ab.get_variant(tid, session_id=u).variant for u in units[:100]}
    cfg = ab.set_weights(tid, [0.1, 0.9])
    assert [p.index for p in cfg.phases] == [0, 1] and cfg.current_phase.weights == (0.1, 0.9)
    after = {u: ab.get_variant(tid, session_id=u) for u in units}
    assert all(after[u].variant == before[u] and after[u].phase == 0 for u in units[:100])
    new = [after[u] for u in units[100:]]
    assert all(a.phase == 1 for a in new)
    assert sum(a.variant == "t" for a in new) > 75


def test_bad_weights_message(ab):
    tid = ab.create_urgency_messaging_test("B", [{"name": "c"}, {"name": "t"}])
    with pytest.raises(InvalidParameterError) as exc:
        ab.set_weights(tid, [0.5, 0.6])
    assert str(exc.value) == "'weights' must be 2 positive numbers summing to 1 (got weights=[0.5, 0.6])"


def test_record_exposures_stores_naive_utc_and_ignores_recorded_units(engine):
    from datetime import UTC, timedelta, timezone

    from analytics.experiments import record_exposures

    cet = timezone(timedelta(hours=1))
    row = {"test_id": "t", "unit_id": "u1", "variant": "b", "phase": 0, "hash_value": 0.5,
           "first_exposure_at": datetime(2026, 11, 25, 13, 0, tzinfo=cet)}  # fmt: skip
    with engine.begin() as conn:
        record_exposures(conn, [row])
        record_exposures(conn, [{**row, "variant": "a", "first_exposure_at": datetime(2026, 11, 26, tzinfo=UTC)}])
    with engine.connect() as conn:
        stored = conn.execute(select(ab_assignments.c.variant, ab_assignments.c.first_exposure_at)).all()
    assert [tuple(r) for r in stored] == [("b", datetime(2026, 11, 25, 12, 0))]
