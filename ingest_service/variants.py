"""The A/B variant endpoint's logic, on top of :mod:`analytics.experiments` (the same rules notebooks use).

Fast path. A running test with a single phase assigns deterministically: the unit's GrowthBook hash
(:class:`analytics.experiments.Assigner`) under the only weights the test ever had, which is also what a recorded
first exposure of that unit holds. So the answer is computed from the test's cached configuration without a
database round trip, and the first exposure is recorded shortly after the response: buffered for at most 1 s
(or 5,000 units), then written by the group writer as one insert-or-ignore via
:func:`analytics.storage.write_exposures` (a process remembers the units it recorded); a process that exits
normally flushes its buffer first. A crash can lose the last second of exposure rows -- not the assignments, which
are deterministic, nor any acknowledged event. A flush that meets an unreachable database is kept by the writer and
written after its backoff (:meth:`~ingest_service.writer.GroupWriter.take_retries`); one the writer cannot take
is forgotten here, so those units are recorded on their next request. (0.2 s / 500 units until 2026-12-05: one
transaction per 500 new units made the writer spend 17-18 µs per unit against 10 µs with larger flushes, and the
variant rate was 7-8 % lower.)
Slow path. A test that is paused/stopped, or whose weights changed (several phases), must honour exposures
recorded earlier: :func:`analytics.experiments.get_variant` (``record=False``) reads them; a unit newly in the
test is then recorded as above.

A test that does not exist or is not running answers its control (``"control"`` for an unknown test) with
``in_test: false`` and the reason, never an error; if the database cannot be read the answer is the same with
reason ``config_unavailable``.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from analytics.errors import AnalyticsError, NotFoundError
from analytics.experiments import Assigner
from ingest_service._pid import current_pid
from ingest_service.writer import GroupWriter

if TYPE_CHECKING:
    from ingest_service.writer_client import RemoteWriter

try:
    from analytics.experiments import get_test, get_variant
except ImportError:  # pragma: no cover - NOTE: until analytics/experiments/__init__.py re-exports them
    from analytics.experiments._store import get_test, get_variant

__all__ = ["VariantService", "dumps"]

_log = logging.getLogger(__name__)
_MAX_TESTS = 1_000
_FLUSH_SECONDS = 1.0
_FLUSH_ROWS = 5_000
_MAX_RECORDED = 200_000


def _utcnow() -> datetime:
    """The current UTC second (naive), made once per second: every new unit's exposure needs it."""
    global _now_cache
    second = int(time.time())
    cached = _now_cache
    if cached[0] != second:
        cached = _now_cache = (second, datetime.fromtimestamp(second, UTC).replace(tzinfo=None))
    return cached[1]


_now_cache: tuple[int, datetime] = (0, datetime(1970, 1, 1))


class _Test:
    __slots__ = ("cfg", "assigner", "fast", "control", "payloads", "templates")

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        phase = cfg.current_phase
        self.assigner = Assigner(
            cfg.seed, cfg.variant_names, weights=phase.weights, coverage=phase.coverage,
            hash_version=cfg.hash_version, test_id=cfg.test_id, phase=phase.index,
        )  # fmt: skip
        self.fast = cfg.status == "running" and len(cfg.phases) == 1
        self.control = cfg.variant_names[0]
        self.payloads = [_payload(v.payload) for v in cfg.variants]
        self.templates: dict[tuple, tuple[str, str]] = {}


def _payload(payload: Any) -> Any:
    if is_dataclass(payload) and not isinstance(payload, type):
        return asdict(payload)
    return payload if isinstance(payload, dict) else {}


class VariantService:
    """Answers ``which variant does this unit see`` for the HTTP endpoint.

    Parameters
    ----------
    engine_factory:
        The database engine (read for configurations and recorded exposures).
    writer:
        The sidecar's writer (the writer process' client, or a group writer thread), which records first
        exposures without waiting for them.
    cache_seconds:
        How long a test's configuration is reused before it is read again.
    """

    def __init__(self, engine_factory: Callable[[], Engine], writer: GroupWriter | RemoteWriter,
                 cache_seconds: float = 5.0) -> None:  # fmt: skip
        self._engine_factory = engine_factory
        self._writer = writer
        self._cache_seconds = cache_seconds
        self._tests: dict[str, tuple[float, _Test | None, str]] = {}
        self._recorded: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._rows: list[tuple] = []
        self._flusher_pid = 0
        self._lock = threading.Lock()

    def _test(self, test_id: str) -> tuple[_Test | None, str]:
        now = time.monotonic()
        hit = self._tests.get(test_id)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        try:
            entry: _Test | None = _Test(get_test(self._engine_factory(), test_id))
            reason = ""
        except NotFoundError:
            entry, reason = None, "test_not_found"
        except (SQLAlchemyError, AnalyticsError, KeyError, ValueError, TypeError, OSError):
            return None, "config_unavailable"  # not cached: try again next time
        with self._lock:
            if len(self._tests) >= _MAX_TESTS:
                self._tests.clear()
            self._tests[test_id] = (now + self._cache_seconds, entry, reason)
        return entry, reason

    def _record(self, test_id: str, unit_id: str, variant: str, phase: int, bucket: float | None) -> None:
        key = (test_id, unit_id)
        if key in self._recorded:
            return
        self._ensure_flusher()  # first: in a new process it drops the rows inherited from the parent
        with self._lock:
            if key in self._recorded:
                return
            self._recorded[key] = None
            if len(self._recorded) > _MAX_RECORDED:
                self._recorded.popitem(last=False)
            self._rows.append((test_id, unit_id, variant, phase, bucket, _utcnow()))  # EXPOSURE_COLUMNS
            full = len(self._rows) >= _FLUSH_ROWS
        if full:
            self.flush_exposures()

    def _ensure_flusher(self) -> None:
        if self._flusher_pid == current_pid():
            return
        with self._lock:
            if self._flusher_pid != current_pid():
                self._flusher_pid = current_pid()
                self._rows.clear()
                threading.Thread(target=self._flush_loop, name="ingest-exposures", daemon=True).start()
                atexit.register(self._flush_at_exit)

    def _flush_loop(self) -> None:
        tick = threading.Event()
        while not tick.wait(_FLUSH_SECONDS):
            self.flush_exposures()

    def _flush_at_exit(self) -> None:
        """A worker stopping normally hands over its buffered units -- to a writer that is still there: none is
        started at exit (the server's whole process group may be stopping)."""
        stop = getattr(self._writer, "stop_spawning", None)
        if stop is not None:
            stop()
        try:
            self.flush_exposures()
        except Exception:  # noqa: BLE001 - nothing may fail an exit; at worst the buffer is lost, as in a crash
            pass

    def flush_exposures(self) -> None:
        """Hand the buffered first exposures to the group writer as one job (one insert-or-ignore). When they cannot
        be handed over -- the writer refused them, or handing them over failed in any way -- their units are
        forgotten, so that their next requests record them again; nothing is raised (the flusher thread must live)."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            handed = self._writer.submit_nowait("exposures", rows, len(rows))
        except Exception:  # noqa: BLE001 - e.g. a bug in a writer: a dead flusher thread would record nothing more
            _log.exception("first exposures could not be handed to the writer; their units are recorded again")
            handed = False
        if not handed:
            with self._lock:  # not queued: forget them, so the units' next requests record them again
                for row in rows:
                    self._recorded.pop((row[0], row[1]), None)

    def _resolve(self, test_id: str, unit_id: str) -> tuple[_Test | None, tuple]:
        """The test (None when unknown or unreadable) and the answer's fields after the unit: ``(variant,
        variation_index, in_test, sticky, phase, status, reason)``; the payload is the test's for that index."""
        test, reason = self._test(test_id)
        if test is None:
            return None, ("control", -1, False, False, None, None, reason)
        status = test.cfg.status
        if test.fast:  # running, one phase: the hash decides (no Assignment object on this path)
            index, bucket = test.assigner.locate(unit_id)
            phase = test.assigner.phase
            if index < 0:
                return test, (test.control, 0, False, False, phase, status, "not_in_coverage")
            variant = test.assigner.variants[index]
            self._record(test.assigner.test_id, unit_id, variant, phase, bucket)
            return test, (variant, index, True, False, phase, status, "assigned")
        try:
            a = get_variant(self._engine_factory(), test_id, unit_id, record=False)
        except (SQLAlchemyError, AnalyticsError, OSError):
            return test, (test.control, 0, False, False, None, status, "config_unavailable")
        if a.in_test and a.variant is not None:
            if status == "running" and not a.sticky:
                self._record(a.test_id, a.unit_id, a.variant, a.phase, a.bucket)
            index = a.variation_index if a.variation_index >= 0 else 0
            return test, (a.variant, index, True, a.sticky, a.phase, status, "sticky" if a.sticky else "assigned")
        why = "test_not_running" if status != "running" else "not_in_coverage"
        return test, (test.control, 0, False, False, a.phase, status, why)

    def variant(self, test_id: str, unit_id: str, unit_type: str) -> dict[str, Any]:
        """The JSON answer for one unit (never raises for an unknown or inactive test)."""
        test, fields = self._resolve(test_id, unit_id)
        return _answer(test_id, unit_id, unit_type, *fields, test.payloads[fields[1]] if test else {})

    def variant_json(self, test_id: str, unit_id: str, unit_type: str) -> str:
        """:meth:`variant` as compact JSON (:func:`dumps`), the endpoint's body. Units that get the same answer
        differ only in ``unit_id``: the rest is rendered once per test and answer, a request encodes its unit."""
        test, fields = self._resolve(test_id, unit_id)
        if test is None:
            return dumps(_answer(test_id, unit_id, unit_type, *fields, {}))
        key = (unit_type, *fields)
        template = test.templates.get(key)
        if template is None:
            template = _template(_answer(test_id, _UNIT_MARK, unit_type, *fields, test.payloads[fields[1]]))
            if template is not None and len(test.templates) < _MAX_TEMPLATES:  # few: variants x reasons x phases
                test.templates[key] = template
        if template is None:
            return dumps(_answer(test_id, unit_id, unit_type, *fields, test.payloads[fields[1]]))
        return template[0] + _json_string(unit_id) + template[1]


def dumps(value: Any) -> str:
    """Compact JSON as the service answers it (UTF-8 text, no spaces)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_string(text: str) -> str:
    """:func:`dumps` of one string, by orjson (0.1 µs against 0.7 µs; the same text for every string it can
    encode, a property test checks); a string orjson refuses (a lone surrogate) takes :func:`dumps`."""
    try:
        return orjson.dumps(text).decode()
    except orjson.JSONEncodeError:
        return dumps(text)


_UNIT_MARK = "\x00unit\x00"  # the endpoint refuses NUL in units and test ids: the mark cannot be mistaken
_MAX_TEMPLATES = 256


def _template(answer: dict[str, Any]) -> tuple[str, str] | None:
    """``(before, after)`` the encoded unit in ``answer``'s JSON; None unless the mark occurs exactly once."""
    parts = dumps(answer).split(dumps(_UNIT_MARK))
    return (parts[0], parts[1]) if len(parts) == 2 else None


def _answer(
    test_id: str, unit_id: str, unit_type: str, variant: str, index: int, in_test: bool, sticky: bool,
    phase: int | None, status: str | None, reason: str, payload: Any,
) -> dict[str, Any]:  # fmt: skip
    return {
        "test_id": test_id,
        "unit_id": unit_id,
        "unit_type": unit_type,
        "variant": variant,
        "variation_index": index,
        "in_test": in_test,
        "sticky": sticky,
        "phase": phase,
        "status": status,
        "reason": reason,
        "payload": payload,
    }
