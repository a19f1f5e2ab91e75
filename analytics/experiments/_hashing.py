"""Deterministic, GrowthBook-compatible assignment of units to variants.

The functions keep GrowthBook's names and semantics so they can be checked against the ``hash``,
``getBucketRange`` and ``chooseVariation`` cases of GrowthBook's language-agnostic SDK test suite
(``cases.json``), and a team can move between GrowthBook and this package without reshuffling units.

* FNV-1a, 32 bit (Fowler, Noll, Vo; IETF draft-eastlake-fnv), over the string's Unicode code points
  (``ord(ch)``), not its UTF-8 bytes -- exactly what GrowthBook's JavaScript and Python SDKs do.
* Hash version 1: ``fnv1a32(unit_id + seed) % 1000 / 1000``.
* Hash version 2: ``fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000`` (the double hash removes the
  correlation between tests whose seeds share a prefix).
* Bucket ranges: variant *i* owns ``[c_i, c_i + coverage * w_i)`` where ``c_i`` is the cumulative weight
  of the variants before it, so raising ``coverage`` only ever adds units to a variant and never moves one.

Python's built-in ``hash()`` is never used: it is salted per process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
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

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF

BucketRange = tuple[float, float]


def _load_fnv_c() -> Any:
    """``fnv1a_32(data, length)`` of the ``fnv-c`` package (MIT, https://github.com/botify-labs/fnv-c), called
    through ``ctypes.PyDLL`` so that the call keeps Python's GIL; None when unavailable.

    Why not the package's own cffi binding: cffi releases the GIL around every C call. For 0.2 µs of hashing that
    invites a GIL hand-off to any other runnable thread -- in a threaded server one of the request threads -- and
    the caller then waits to take the GIL back. Measured in-process with the sidecar's two background threads: the
    variant request took 24-30 µs with the cffi call against 21-24 µs with the pure-Python loop; through
    ``PyDLL`` (which never releases the GIL) the same C function costs 0.3 µs and no hand-off.
    """
    try:
        import ctypes

        from fnv_c.ext import _fnv

        function = ctypes.PyDLL(_fnv.__file__).fnv1a_32
    except (ImportError, OSError, AttributeError):  # pragma: no cover - the pure-Python loop gives the same hashes
        return None
    function.restype = ctypes.c_uint32
    function.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
    return function


_fnv_c = _load_fnv_c()


def fnv1a32(text: str, start: int = _FNV_OFFSET) -> int:
    """32-bit FNV-1a hash of ``text`` over its code points.

    Parameters
    ----------
    text:
        The string to hash; each character contributes ``ord(ch)`` (a code point, possibly > 255).
    start:
        Initial state; the default is the FNV offset basis 2166136261. Passing the state reached after a
        prefix continues the hash, which lets callers hash ``seed + unit_id`` without re-hashing the seed.

    Returns
    -------
    int
        The hash in ``[0, 2**32)``.

    Notes
    -----
    Text whose code points are all below 256 is exactly its latin-1 bytes; from the offset basis such text is
    hashed by the C function of the ``fnv-c`` package when it is installed (0.3 µs instead of 7 µs for a
    66-character pseudonym: the variant endpoint hashes one per request). Everything else -- other start states,
    code points above 255, no ``fnv-c`` -- takes the pure-Python loop, which defines the result.
    """
    try:
        # Code points up to 255 are exactly latin-1's bytes; iterating bytes avoids an ord() call per character.
        data: bytes | None = text.encode("latin-1")
    except UnicodeEncodeError:
        data = None
    if data is not None and start == _FNV_OFFSET and _fnv_c is not None:
        return _fnv_c(data, len(data))
    return _fnv1a32_py(map(ord, text) if data is None else data, start)


def _fnv1a32_py(points: Iterable[int], start: int = _FNV_OFFSET) -> int:
    """The FNV-1a loop over code points (the reference the C path is tested against)."""
    h = start
    prime, mask = _FNV_PRIME, _MASK  # locals: a global lookup per character costs a third of the loop
    for c in points:
        h = ((h ^ c) * prime) & mask
    return h


def hash_unit(seed: str, unit_id: str, version: int = 2) -> float | None:
    """GrowthBook's ``hash(seed, value, version)``: a unit's position in ``[0, 1)``.

    Parameters
    ----------
    seed:
        The test's hashing seed (GrowthBook uses the experiment key when no seed is set).
    unit_id:
        The unit's id (user id or session id); non-strings are converted with ``str``.
    version:
        1 → ``fnv1a32(unit_id + seed) % 1000 / 1000``;
        2 → ``fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000``.

    Returns
    -------
    float or None
        The bucket position, or ``None`` for an unknown hash version (as GrowthBook's SDKs return).
    """
    value = str(unit_id)
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def get_equal_weights(num_variations: int) -> list[float]:
    """GrowthBook's ``getEqualWeights``: ``n`` weights of ``1/n`` (empty for ``n < 1``)."""
    if num_variations < 1:
        return []
    return [1.0 / num_variations] * num_variations


def get_bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[BucketRange]:
    """GrowthBook's ``getBucketRanges``: the ``[start, end)`` slice of ``[0, 1)`` owned by each variant.

    Parameters
    ----------
    num_variations:
        Number of variants.
    coverage:
        Share of units included in the test, clamped to ``[0, 1]``.
    weights:
        Traffic weights; replaced by equal weights when missing, of the wrong length, or not summing to
        1 within ``[0.99, 1.01]`` (GrowthBook's tolerance).

    Returns
    -------
    list of (float, float)
        Variant ``i`` owns ``[c_i, c_i + coverage * w_i)``, with ``c_i = sum(w[:i])``.
    """
    coverage = min(max(coverage, 0.0), 1.0)
    w = list(weights) if weights is not None else []
    if len(w) != num_variations:
        w = get_equal_weights(num_variations)
    total = sum(w)
    if total < 0.99 or total > 1.01:
        w = get_equal_weights(num_variations)
    ranges: list[BucketRange] = []
    cumulative = 0.0
    for weight in w:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[BucketRange]) -> int:
    """GrowthBook's ``chooseVariation``: the index whose range holds ``n`` (``start <= n < end``), else -1."""
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return -1


@dataclass(frozen=True)
class Assignment:
    """The answer to "which variant does this unit see?".

    Attributes
    ----------
    test_id, unit_id:
        What was asked.
    variant:
        The variant's name. A unit outside the test (coverage, unknown hash version, test not running) gets
        the control variant with ``in_test=False``, as GrowthBook's SDKs do.
    variation_index:
        Index of the variant in the test's variant list (0 when not in the test).
    in_test:
        Whether the unit is in the experiment (only then is its exposure logged).
    seed, hash_version, bucket:
        How the answer was derived: ``bucket = hash_unit(seed, unit_id, hash_version)``.
    phase:
        The test phase whose weights were used (or the phase recorded at first exposure).
    sticky:
        True when the variant came from the unit's recorded first exposure rather than from hashing.
    """

    test_id: str
    unit_id: str
    variant: str | None
    variation_index: int
    in_test: bool
    seed: str
    hash_version: int
    bucket: float
    phase: int = 0
    sticky: bool = False

    def as_dict(self) -> dict[str, object]:
        """JSON-ready dictionary of every field."""
        return {
            "test_id": self.test_id,
            "unit_id": self.unit_id,
            "variant": self.variant,
            "variation_index": self.variation_index,
            "in_test": self.in_test,
            "seed": self.seed,
            "hash_version": self.hash_version,
            "bucket": self.bucket,
            "phase": self.phase,
            "sticky": self.sticky,
        }


def assign(
    seed: str,
    unit_id: str,
    variants: Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    coverage: float = 1.0,
    hash_version: int = 2,
    test_id: str = "",
    phase: int = 0,
) -> Assignment:
    """Assign one unit: hash it, build the bucket ranges and choose the variant.

    Parameters
    ----------
    seed:
        Hashing seed of the test.
    unit_id:
        The unit (user or session id).
    variants:
        Variant names, control first.
    weights, coverage:
        As in :func:`get_bucket_ranges`.
    hash_version:
        1 or 2 (GrowthBook's versions); any other version puts nobody in the test.
    test_id, phase:
        Copied into the answer.

    Returns
    -------
    Assignment
        Carries the seed, hash version and bucket so the answer can be re-derived anywhere. A unit outside
        the test (coverage, unknown hash version) gets GrowthBook's answer: the control variant (index 0) with
        ``in_test=False``, and must not be logged as exposed.
    """
    return Assigner(
        seed,
        variants,
        weights=weights,
        coverage=coverage,
        hash_version=hash_version,
        test_id=test_id,
        phase=phase,
    )(unit_id)


class Assigner:
    """A test's assignment rule compiled once, for fast repeated calls.

    Equivalent to :func:`assign` with the same arguments, but the FNV state after the seed, the bucket
    ranges and the variant list are computed once (FNV-1a is a streaming hash, so
    ``fnv1a32(seed + u) == fnv1a32(u, start=fnv1a32(seed))``).

    Parameters
    ----------
    seed, variants, weights, coverage, hash_version, test_id, phase:
        As in :func:`assign`.
    """

    __slots__ = ("seed", "variants", "ranges", "hash_version", "test_id", "phase", "_seed_state")

    def __init__(
        self,
        seed: str,
        variants: Sequence[str],
        *,
        weights: Sequence[float] | None = None,
        coverage: float = 1.0,
        hash_version: int = 2,
        test_id: str = "",
        phase: int = 0,
    ) -> None:
        self.seed = seed
        self.variants = tuple(variants)
        self.ranges = tuple(get_bucket_ranges(len(self.variants), coverage, weights))
        self.hash_version = hash_version
        self.test_id = test_id
        self.phase = phase
        self._seed_state = fnv1a32(seed)

    def bucket(self, unit_id: str) -> float | None:
        """The unit's bucket position (same as ``hash_unit(seed, unit_id, hash_version)``)."""
        if self.hash_version == 2:
            # in C the whole string costs less than continuing from the seed's state in Python
            inner = fnv1a32(self.seed + str(unit_id)) if _fnv_c is not None else fnv1a32(str(unit_id), self._seed_state)
            return (fnv1a32(str(inner)) % 10000) / 10000
        return hash_unit(self.seed, unit_id, self.hash_version)

    def locate(self, unit_id: str) -> tuple[int, float | None]:
        """``(variation_index, bucket)`` of one unit, index -1 when it is not in the test (outside coverage, or
        an unknown hash version: bucket None) -- :meth:`__call__`'s decision without building an
        :class:`Assignment`, for the variant endpoint's hot path."""
        bucket = self.bucket(unit_id)
        if bucket is not None:
            for i, (start, end) in enumerate(self.ranges):
                if start <= bucket < end:
                    return i, bucket
        return -1, bucket

    def __call__(self, unit_id: str) -> Assignment:
        """Assign one unit."""
        unit = str(unit_id)
        index, bucket = self.locate(unit)
        tid, seed, version, phase = self.test_id, self.seed, self.hash_version, self.phase
        if index >= 0:
            return Assignment(tid, unit, self.variants[index], index, True, seed, version, bucket, phase)
        control = self.variants[0] if self.variants else None
        return Assignment(tid, unit, control, 0, False, seed, version, -1.0 if bucket is None else bucket, phase)

    def assign_many(self, unit_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised assignment: ``(variation_index, bucket)`` arrays (index -1 = not in the test)."""
        buckets = hash_many(self.seed, unit_ids, self.hash_version)
        if buckets is None:
            n = len(unit_ids)
            return np.full(n, -1, dtype=np.int64), np.full(n, -1.0)
        index = np.full(len(buckets), -1, dtype=np.int64)
        for i, (start, end) in enumerate(self.ranges):
            index[(buckets >= start) & (buckets < end) & (index < 0)] = i
        return index, buckets


def _fnv_array(codes: np.ndarray, lengths: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Vectorised FNV-1a over rows of code points (``codes[i, :lengths[i]]``), continuing from ``start``."""
    h = start.astype(np.uint64).copy()
    for j in range(codes.shape[1]):
        live = lengths > j
        if not live.any():
            break
        step = ((h ^ codes[:, j].astype(np.uint64)) * np.uint64(_FNV_PRIME)) & np.uint64(_MASK)
        h = np.where(live, step, h)
    return h


def _code_points(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray([str(v) for v in values], dtype=np.str_)
    width = max(arr.dtype.itemsize // 4, 1)
    codes = arr.astype(f"<U{width}").view(np.uint32).reshape(len(arr), width)
    lengths = np.char.str_len(arr) if len(arr) else np.zeros(0, dtype=np.int64)
    return codes, np.asarray(lengths)


def hash_many(seed: str, unit_ids: Sequence[str], version: int = 2) -> np.ndarray | None:
    """Vectorised :func:`hash_unit` for many units of one test (identical results, numpy speed).

    Returns
    -------
    numpy.ndarray or None
        Float64 bucket positions, or ``None`` for an unknown hash version.
    """
    if version not in (1, 2):
        return None
    n = len(unit_ids)
    if version == 1:
        codes, lengths = _code_points([f"{u}{seed}" for u in unit_ids])
        h = _fnv_array(codes, lengths, np.full(n, _FNV_OFFSET, dtype=np.uint64))
        return (h % np.uint64(1000)).astype(np.float64) / 1000
    codes, lengths = _code_points(list(unit_ids))
    first = _fnv_array(codes, lengths, np.full(n, fnv1a32(seed), dtype=np.uint64))
    digits, dlen = _code_points(first.astype(np.int64).astype(str).tolist())
    second = _fnv_array(digits, dlen, np.full(n, _FNV_OFFSET, dtype=np.uint64))
    return (second % np.uint64(10000)).astype(np.float64) / 10000
