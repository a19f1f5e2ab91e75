"""ingest_service.variants: the JSON the endpoint answers is exactly ``dumps(variant(...))``, whatever the path."""

import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.experiments import Variant, create_test, start_test
from ingest_service.variants import VariantService, _template, dumps


class _NoWriter:
    def __init__(self):
        self.jobs = []

    def submit_nowait(self, kind, payload, size=1):
        self.jobs.append((kind, payload))
        return True


@pytest.fixture
def service(sqlite_engine):
    create_test(sqlite_engine, name="offer", test_type="conversion_offer", test_id="offer-t",
                variants=[Variant("control", 0.5, {"price": 9.99}), Variant("discount", 0.5, {"price": "€7"})])  # fmt: skip
    start_test(sqlite_engine, "offer-t")
    create_test(sqlite_engine, name="draft", test_type="custom", test_id="draft-t",
                variants=[Variant("a", 0.5), Variant("b", 0.5)])  # fmt: skip
    writer = _NoWriter()
    return VariantService(lambda: sqlite_engine, writer), writer


@pytest.mark.parametrize("unit_type", ["user_id", "session_id"])
@pytest.mark.parametrize("test_id", ["offer-t", "draft-t", "missing"])
def test_json_is_dumps_of_the_answer(service, test_id, unit_type):
    svc, _ = service
    units = [f"u{i}" for i in range(40)] + ['quote"d', "back\\slash", "ünï", "tab\tnew\nline", "😀"]
    for unit in units:
        text = svc.variant_json(test_id, unit, unit_type)
        assert text == dumps(svc.variant(test_id, unit, unit_type))
        assert json.loads(text)["unit_id"] == unit


def test_both_variants_are_answered_and_first_exposures_buffered_once(service):
    svc, writer = service
    answers = {json.loads(svc.variant_json("offer-t", f"u{i}", "user_id"))["variant"] for i in range(40)}
    assert answers == {"control", "discount"}
    svc.variant_json("offer-t", "u1", "user_id")  # again: already buffered
    svc.flush_exposures()
    (kind, rows), = writer.jobs
    assert kind == "exposures" and len(rows) == 40 and {r[1] for r in rows} == {f"u{i}" for i in range(40)}
    assert all(r[0] == "offer-t" and isinstance(r[5], datetime) and r[5].microsecond == 0 for r in rows)


def test_template_needs_the_mark_exactly_once():
    assert _template({"a": "\x00unit\x00", "b": 1}) == ('{"a":', ',"b":1}')
    assert _template({"a": "\x00unit\x00", "b": "\x00unit\x00"}) is None
    assert _template({"a": 1}) is None


def test_buffered_units_are_handed_over_at_a_normal_exit(tmp_path):
    """A worker that stops normally flushes its buffer (at most 1 s of new units) through a writer that is still
    there, without starting one."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
from analytics.experiments import Assigner
from ingest_service.variants import VariantService

class Writer:
    def stop_spawning(self):
        print("stop_spawning", flush=True)

    def submit_nowait(self, kind, rows, size=1):
        print(kind, size, sorted(r[1] for r in rows), flush=True)
        return True

svc = VariantService(lambda: None, Writer())
assign = Assigner("seed", ["a", "b"], test_id="t")
for unit in ("u1", "u2", "u1"):
    a = assign(unit)
    svc._record(a.test_id, a.unit_id, a.variant, a.phase, a.bucket)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["stop_spawning", "exposures 2 ['u1', 'u2']"]


def test_fast_path_agrees_with_the_assigner_under_partial_coverage(sqlite_engine):
    from analytics.experiments import Assigner, get_test

    create_test(sqlite_engine, name="half", test_type="custom", test_id="half-t", coverage=0.5,
                variants=[Variant("a", 0.3), Variant("b", 0.7)])  # fmt: skip
    start_test(sqlite_engine, "half-t")
    cfg = get_test(sqlite_engine, "half-t")
    phase = cfg.current_phase
    assigner = Assigner(cfg.seed, cfg.variant_names, weights=phase.weights, coverage=phase.coverage,
                        hash_version=cfg.hash_version, test_id="half-t", phase=phase.index)  # fmt: skip
    writer = _NoWriter()
    svc = VariantService(lambda: sqlite_engine, writer)
    units = [f"unit-{i}" for i in range(200)]
    expected = {u: assigner(u) for u in units}
    for u in units:
        got = json.loads(svc.variant_json("half-t", u, "session_id"))
        a = expected[u]
        assert (got["variant"], got["in_test"], got["variation_index"]) == (a.variant, a.in_test, a.variation_index)
        assert got["reason"] == ("assigned" if a.in_test else "not_in_coverage")
    svc.flush_exposures()
    (_, rows), = writer.jobs
    inside = {u for u, a in expected.items() if a.in_test}
    assert 60 < len(inside) < 140  # coverage 0.5 of 200 units
    assert {r[1]: (r[2], r[3], r[4]) for r in rows} == {u: (expected[u].variant, expected[u].phase, expected[u].bucket)
                                                        for u in inside}  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_unit_json_is_the_json_modules_text(text):
    # orjson on the hot path must give exactly json.dumps(ensure_ascii=False) (and fall back on what it refuses)
    from ingest_service.variants import _json_string

    assert _json_string(text) == json.dumps(text, ensure_ascii=False, separators=(",", ":"))


def test_unit_json_falls_back_for_a_lone_surrogate():
    from ingest_service.variants import _json_string

    assert _json_string("a\ud800b") == '"a\ud800b"'


class _BrokenWriter(_NoWriter):
    def __init__(self):
        super().__init__()
        self.broken = True

    def submit_nowait(self, kind, payload, size=1):
        if self.broken:
            raise RuntimeError("writer bug")
        return super().submit_nowait(kind, payload, size)


def test_a_failing_hand_over_forgets_the_units_and_never_raises(sqlite_engine, caplog):
    create_test(sqlite_engine, name="t", test_type="custom", test_id="t",
                variants=[Variant("a", 0.5), Variant("b", 0.5)])  # fmt: skip
    start_test(sqlite_engine, "t")
    writer = _BrokenWriter()
    svc = VariantService(lambda: sqlite_engine, writer)
    svc.variant_json("t", "u1", "session_id")
    svc.flush_exposures()  # raises nothing: in the flusher thread an exception would end all recording
    assert caplog.messages == ["first exposures could not be handed to the writer; their units are recorded again"]
    writer.broken = False
    svc.variant_json("t", "u1", "session_id")  # forgotten, so recorded again
    svc.flush_exposures()
    assert [(kind, [r[1] for r in rows]) for kind, rows in writer.jobs] == [("exposures", ["u1"])]
