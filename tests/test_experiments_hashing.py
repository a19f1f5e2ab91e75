"""GrowthBook-compatible hashing and bucketing.

Expected values are GrowthBook's own SDK test vectors (``cases.json``, spec 0.7.x, sections ``hash``,
``getBucketRange``, ``chooseVariation``, ``getEqualWeights`` and the ``feature`` cases "empty experiment rule"
and "creates experiments properly"), copied here verbatim.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analytics.experiments import (
    Assigner,
    _hashing,
    assign,
    choose_variation,
    fnv1a32,
    get_bucket_ranges,
    get_equal_weights,
    hash_many,
    hash_unit,
)

# [seed, value, version, expected]
GB_HASH = [
    ["", "a", 1, 0.22],
    ["", "b", 1, 0.077],
    ["b", "a", 1, 0.946],
    ["ef", "d", 1, 0.652],
    ["asdf", "8952klfjas09ujk", 1, 0.549],
    ["", "123", 1, 0.011],
    ["", '___)((*":&', 1, 0.563],
    ["seed", "a", 2, 0.0505],
    ["seed", "b", 2, 0.2696],
    ["foo", "ab", 2, 0.2575],
    ["foo", "def", 2, 0.2019],
    ["89123klj", "8952klfjas09ujkasdf", 2, 0.124],
    ["90850943850283058242805", "123", 2, 0.7516],
    ["()**(%$##$%#$#", '___)((*":&', 2, 0.0128],
    ["abc", "def", 99, None],
]

# [name, (num_variations, coverage, weights), expected ranges]
GB_BUCKET_RANGES = [
    ["normal 50/50", (2, 1, None), [(0, 0.5), (0.5, 1)]],
    ["reduced coverage", (2, 0.5, None), [(0, 0.25), (0.5, 0.75)]],
    ["zero coverage", (2, 0, None), [(0, 0), (0.5, 0.5)]],
    ["4 variations", (4, 1, None), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]],
    ["uneven weights", (2, 1, [0.4, 0.6]), [(0, 0.4), (0.4, 1)]],
    ["uneven weights, 3 variations", (3, 1, [0.2, 0.3, 0.5]), [(0, 0.2), (0.2, 0.5), (0.5, 1)]],
    ["uneven weights, reduced coverage, 3", (3, 0.2, [0.2, 0.3, 0.5]), [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]],
    ["negative coverage", (2, -0.2, None), [(0, 0), (0.5, 0.5)]],
    ["coverage above 1", (2, 1.5, None), [(0, 0.5), (0.5, 1)]],
    ["weights sum below 1", (2, 1, [0.4, 0.1]), [(0, 0.5), (0.5, 1)]],
    ["weights sum above 1", (2, 1, [0.7, 0.6]), [(0, 0.5), (0.5, 1)]],
    [
        "weights.length != num variations",
        (4, 1, [0.4, 0.4, 0.2]),
        [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)],
    ],
    ["weights sum almost equals 1", (2, 1, [0.4, 0.5999]), [(0, 0.4), (0.4, 0.9999)]],
]

EVEN = [(0, 0.5), (0.5, 1)]
REDUCED = [(0, 0.25), (0.5, 0.75)]
GB_CHOOSE = [
    ["even range, 0.2", 0.2, EVEN, 0],
    ["even range, 0.4", 0.4, EVEN, 0],
    ["even range, 0.6", 0.6, EVEN, 1],
    ["even range, 0.8", 0.8, EVEN, 1],
    ["even range, 0", 0, EVEN, 0],
    ["even range, 0.5", 0.5, EVEN, 1],
    ["reduced range, 0.2", 0.2, REDUCED, 0],
    ["reduced range, 0.4", 0.4, REDUCED, -1],
    ["reduced range, 0.6", 0.6, REDUCED, 1],
    ["reduced range, 0.8", 0.8, REDUCED, -1],
    ["reduced range, 0.25", 0.25, REDUCED, -1],
    ["reduced range, 0.5", 0.5, REDUCED, 1],
    ["zero range", 0.5, [(0, 0.5), (0.5, 0.5), (0.5, 1)], 2],
]


@pytest.mark.parametrize(("seed", "value", "version", "expected"), GB_HASH)
def test_hash_matches_growthbook_cases(seed, value, version, expected):
    assert hash_unit(seed, value, version) == expected


@pytest.mark.parametrize(("name", "args", "expected"), GB_BUCKET_RANGES, ids=[c[0] for c in GB_BUCKET_RANGES])
def test_bucket_ranges_match_growthbook_cases(name, args, expected):
    got = get_bucket_ranges(*args)
    assert got == [pytest.approx(r, abs=1e-12) for r in expected]


@pytest.mark.parametrize(("name", "n", "ranges", "expected"), GB_CHOOSE, ids=[c[0] for c in GB_CHOOSE])
def test_choose_variation_matches_growthbook_cases(name, n, ranges, expected):
    assert choose_variation(n, ranges) == expected


@pytest.mark.parametrize(
    ("n", "expected"), [(-1, []), (0, []), (1, [1]), (2, [0.5, 0.5]), (4, [0.25, 0.25, 0.25, 0.25])]
)
def test_equal_weights_match_growthbook_cases(n, expected):
    assert get_equal_weights(n) == expected


def test_equal_weights_three():
    assert get_equal_weights(3) == pytest.approx([0.33333333] * 3, abs=1e-8)


@pytest.mark.parametrize(
    ("unit", "bucket", "index"), [("123", 0.863, 2), ("456", 0.178, 0), ("fds", 0.514, 1)]
)
def test_feature_cases_empty_experiment_rule(unit, bucket, index):
    # GrowthBook: experiment key "feature", no seed → seed = key, hash version 1, three equal variants.
    a = assign("feature", unit, ["a", "b", "c"], hash_version=1)
    assert (a.bucket, a.variation_index, a.variant) == (bucket, index, "abc"[index])


def test_feature_case_creates_experiments_properly():
    a = assign("feature", "123", ["v0", "v1"], weights=[0.1, 0.9], coverage=0.99, hash_version=2)
    assert (a.bucket, a.variation_index, a.variant, a.in_test) == (0.5231, 1, "v1", True)


def test_fnv1a32_reference_vectors():
    # Published FNV-1a 32-bit test vectors (Fowler/Noll/Vo reference implementation, test_fnv.c).
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_fnv_uses_code_points_not_utf8_bytes():
    # One code point U+00E9 is one step of the hash: (offset ^ 0xE9) * prime mod 2**32, hand-computed.
    assert fnv1a32("é") == ((0x811C9DC5 ^ 0xE9) * 0x01000193) % 2**32
    assert fnv1a32("é") != fnv1a32("é".encode().decode("latin-1"))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=20))
def test_fnv1a32_c_path_equals_the_python_loop(text, prefix):
    # fnv-c hashes latin-1 text from the offset basis; the loop over code points defines the result.
    assert _hashing._fnv_c is not None  # a declared dependency: the fast path is what runs
    assert fnv1a32(text) == _hashing._fnv1a32_py(map(ord, text))
    assert fnv1a32(text, fnv1a32(prefix)) == fnv1a32(prefix + text)


def test_the_c_hash_keeps_the_gil():
    # ctypes.PyDLL functions carry FUNCFLAG_PYTHONAPI: called with the GIL held (cffi's binding releases it)
    import ctypes

    assert _hashing._fnv_c._flags_ & ctypes._FUNCFLAG_PYTHONAPI
    assert fnv1a32("a\x00b") == _hashing._fnv1a32_py(b"a\x00b")  # length-delimited, not NUL-terminated


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_assigner_bucket_is_the_same_with_and_without_fnv_c(unit):
    a = Assigner("seed-x", ["control", "treatment"], test_id="t")
    with_c = a.bucket(unit)
    saved, _hashing._fnv_c = _hashing._fnv_c, None
    try:
        without_c = a.bucket(unit)
    finally:
        _hashing._fnv_c = saved
    assert with_c == without_c == hash_unit("seed-x", unit, 2)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.floats(0.0, 1.0), st.sampled_from([1, 2, 3]))
def test_assigner_locate_is_the_call_without_the_object(unit, coverage, version):
    a = Assigner("s", ["control", "b", "c"], weights=[0.2, 0.3, 0.5], coverage=coverage, hash_version=version)
    index, bucket = a.locate(unit)
    full = a(unit)
    assert bucket == hash_unit("s", unit, version)
    if index >= 0:
        assert (full.in_test, full.variation_index, full.variant, full.bucket) == (True, index, a.variants[index], bucket)
    else:
        assert (full.in_test, full.variation_index, full.variant) == (False, 0, "control")
        assert full.bucket == (-1.0 if bucket is None else bucket)


def test_assignment_carries_seed_version_bucket():
    a = assign("seed", "a", ["control", "treatment"], test_id="t1")
    assert a.as_dict() == {
        "test_id": "t1",
        "unit_id": "a",
        "variant": "control",
        "variation_index": 0,
        "in_test": True,
        "seed": "seed",
        "hash_version": 2,
        "bucket": 0.0505,
        "phase": 0,
        "sticky": False,
    }


def test_unknown_hash_version_puts_nobody_in_test():
    a = assign("abc", "def", ["a", "b"], hash_version=99)
    assert (a.in_test, a.variant, a.variation_index) == (False, "a", 0)
    assert hash_many("abc", ["def"], 99) is None


def test_uniform_over_100k_ids():
    ids = [f"user-{i}" for i in range(100_000)]
    buckets = hash_many("uniformity-seed", ids)
    counts, _ = np.histogram(buckets, bins=20, range=(0, 1))
    p = stats.chisquare(counts).pvalue
    assert p > 0.001, counts


def test_assignment_uniform_over_three_arms_100k():
    index, _ = Assigner("arms", ["a", "b", "c"], weights=[0.5, 0.25, 0.25]).assign_many(
        [f"u{i}" for i in range(100_000)]
    )
    observed = np.bincount(index, minlength=3)
    assert stats.chisquare(observed, [50_000, 25_000, 25_000]).pvalue > 0.001, observed


def test_independent_across_tests():
    ids = [f"user-{i}" for i in range(50_000)]
    a, _ = Assigner("test-one", ["a", "b"]).assign_many(ids)
    b, _ = Assigner("test-two", ["a", "b"]).assign_many(ids)
    table = np.array([[np.sum((a == i) & (b == j)) for j in (0, 1)] for i in (0, 1)])
    assert stats.chi2_contingency(table).pvalue > 0.001, table


def test_outside_coverage_gets_control_not_in_test():
    a = assign("seed", "a", ["control", "treatment"], coverage=0.05)  # bucket 0.0505 is outside [0, 0.025)
    assert (a.variant, a.variation_index, a.in_test, a.bucket) == ("control", 0, False, 0.0505)


def test_ramping_coverage_never_moves_a_unit():
    ids = [f"ramp-{i}" for i in range(5_000)]
    before, _ = Assigner("ramp", ["a", "b", "c"], coverage=0.2).assign_many(ids)
    after, _ = Assigner("ramp", ["a", "b", "c"], coverage=0.9).assign_many(ids)
    was_in = before >= 0
    assert np.array_equal(before[was_in], after[was_in])
    assert (after >= 0).sum() > was_in.sum()


def test_stable_across_processes_with_different_hash_salts():
    code = (
        "from analytics.experiments import hash_unit; "
        "print(hash_unit('s', 'user-42'), hash_unit('s', 'ü', 1))"
    )
    outs = set()
    for salt in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=salt)
        cmd = [sys.executable, "-c", code]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        outs.add(out.stdout)
    assert outs == {f"{hash_unit('s', 'user-42')} {hash_unit('s', 'ü', 1)}\n"}


@settings(max_examples=60, deadline=None)
@given(
    seed=st.text(max_size=12),
    ids=st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=20),
    version=st.sampled_from([1, 2]),
)
def test_vectorised_equals_scalar(seed, ids, version):
    ids = [i.replace("\x00", "") for i in ids]  # numpy unicode arrays strip trailing NULs
    assert hash_many(seed, ids, version).tolist() == [hash_unit(seed, i, version) for i in ids]


@settings(max_examples=60, deadline=None)
@given(unit=st.text(max_size=30), seed=st.text(max_size=10))
def test_assigner_equals_assign(unit, seed):
    weights = [0.2, 0.3, 0.5]
    expected = assign(seed, unit, ["a", "b", "c"], weights=weights, coverage=0.7)
    assert Assigner(seed, ["a", "b", "c"], weights=weights, coverage=0.7)(unit) == expected
