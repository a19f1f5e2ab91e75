"""A/B testing, performance monitoring and the deletion request: resources that act (admin) or read one test.

Backends: :class:`analytics.experiments.ABTesting` (the seed's ``ai_calculator_ab_testing``) on the write
database, :data:`analytics.performance.ai_calculator_performance` (this worker's monitor) and
:func:`analytics.privacy.delete_person`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import falcon

from analytics.experiments import ABTesting
from analytics.performance import ai_calculator_performance
from analytics.privacy import delete_person
from ingest_service.api.auth import ADMIN, READ
from ingest_service.api.base import ApiContext, call_backend, read_json_body, send_json
from ingest_service.api.jsonable import dumps
from ingest_service.api.params import ParameterError, number, parse_query

__all__ = ["CreateTestResource", "DeletePersonResource", "MonitoringResource", "ResultsResource",
           "StartTestResource", "SummaryResource"]  # fmt: skip

_TEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
#: test_type → (ABTesting factory method, required keys of each variant, numeric keys)
_KINDS = {
    "conversion_offer": ("create_conversion_offer_test", ("name", "price"), ("price",)),
    "risk_algorithm": ("create_risk_algorithm_test", ("name", "algorithm"), ()),
    "personalization": ("create_personalization_test", ("name", "strategy"), ()),
    "urgency_messaging": ("create_urgency_messaging_test", ("name",), ()),
}
_CREATE_KEYS = ("test_type", "name", "variants", "weights", "coverage", "unit", "test_id")


def _string(body: dict[str, Any], key: str, max_len: int, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len or "\x00" in value:
        raise ParameterError(key, f"'{key}' must be a non-empty string of at most {max_len} characters "
                                  f"(got {type(value).__name__})")  # fmt: skip
    return value


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _variants(body: dict[str, Any], required: tuple[str, ...], numeric: tuple[str, ...]) -> list[dict[str, Any]]:
    items = body.get("variants")
    if not isinstance(items, list) or not 2 <= len(items) <= 10 or not all(isinstance(v, dict) for v in items):
        raise ParameterError("variants", "'variants' must be an array of 2 to 10 objects, control first")
    for i, item in enumerate(items):
        for key in required:
            ok = _finite(item.get(key)) and item[key] >= 0 if key in numeric else (
                isinstance(item.get(key), str) and 0 < len(item[key]) <= 100)  # fmt: skip
            if not ok:
                kind = "a number >= 0" if key in numeric else "a string of 1 to 100 characters"
                raise ParameterError(f"variants[{i}].{key}", f"'variants[{i}].{key}' must be {kind}")
        features = item.get("features", [])
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ParameterError(f"variants[{i}].features", f"'variants[{i}].features' must be an array of strings")
        for key in ("params",):
            if key in item and not isinstance(item[key], dict):
                raise ParameterError(f"variants[{i}].{key}", f"'variants[{i}].{key}' must be an object")
    return items


class CreateTestResource:
    """``POST /api/analytics/ab-testing/create`` (admin): create a draft test, answer 201 with its config."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.ctx.checker.require(req, ADMIN)
        body = read_json_body(req)
        for key in body:
            if key not in _CREATE_KEYS:
                raise ParameterError(key, f"unknown field {key!r} (expected: {', '.join(_CREATE_KEYS)})")
        test_type = body.get("test_type")
        if not isinstance(test_type, str) or test_type not in _KINDS:
            raise ParameterError("test_type", f"'test_type' must be one of {', '.join(_KINDS)} (got {test_type!r})")
        method, required, numeric = _KINDS[test_type]
        name = _string(body, "name", 200)
        variants = _variants(body, required, numeric)
        kwargs: dict[str, Any] = {}
        weights = body.get("weights")
        if weights is not None:
            if not isinstance(weights, list) or not all(_finite(w) and w >= 0 for w in weights):
                raise ParameterError("weights", "'weights' must be an array of numbers >= 0, one per variant")
            kwargs["weights"] = weights
        if body.get("coverage") is not None:
            if not _finite(body["coverage"]):
                raise ParameterError("coverage", "'coverage' must be a number in (0, 1]")
            kwargs["coverage"] = float(body["coverage"])
        if body.get("unit") is not None:
            if body["unit"] not in ("user", "session"):
                raise ParameterError("unit", f"'unit' must be user or session (got {body['unit']!r})")
            kwargs["unit"] = body["unit"]
        test_id = _string(body, "test_id", 100, required=False)
        if test_id is not None and not _TEST_ID.match(test_id):
            raise ParameterError("test_id", "'test_id' must be 1 to 100 letters, digits, '_', '.' or '-'")
        ab = ABTesting(self.ctx.write_engine())
        new_id = call_backend(lambda: getattr(ab, method)(name, variants, test_id=test_id, **kwargs))
        cfg = call_backend(lambda: ab.get_test(new_id))
        send_json(resp, dumps({"test_id": new_id, "config": cfg.to_json()}), falcon.HTTP_201)


def _check_test_id(test_id: str) -> None:
    if len(test_id) > 100:
        raise ParameterError("test_id", f"'test_id' must be at most 100 characters (got {len(test_id)})")


class StartTestResource:
    """``POST /api/analytics/ab-testing/{test_id}/start`` (admin): start or resume the test."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response, test_id: str) -> None:
        self.ctx.checker.require(req, ADMIN)
        _check_test_id(test_id)
        parse_query(req, {})
        cfg = call_backend(lambda: ABTesting(self.ctx.write_engine()).start_test(test_id))
        send_json(resp, dumps({"test_id": test_id, "status": cfg.status, "config": cfg.to_json()}))


class ResultsResource:
    """``GET /api/analytics/ab-testing/{test_id}/results`` (read): the full analysis of the test (not cached)."""

    spec = {"alpha": number(0.0, 0.5, low_open=True), "mde": number(0.0, 10.0, low_open=True)}

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, test_id: str) -> None:
        self.ctx.checker.require(req, READ)
        _check_test_id(test_id)
        p = parse_query(req, self.spec)
        ab = ABTesting(self.ctx.read_engine())
        report = call_backend(lambda: ab.get_results(test_id, alpha=p.get("alpha", 0.05), mde=p.get("mde", 0.10)))
        send_json(resp, dumps({"parameters": {"test_id": test_id, **p}, "data": report.as_dict()}))
        resp.cache_control = ["no-store"]


class SummaryResource:
    """``GET /api/analytics/performance/summary?hours=24`` (read): this worker's monitor plus the database."""

    spec = {"hours": number(0.0, 720.0, low_open=True)}

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.ctx.checker.require(req, READ)
        p = parse_query(req, self.spec)
        summary = call_backend(lambda: ai_calculator_performance.get_performance_summary(
            hours=p.get("hours", 24.0), engine=self.ctx.read_engine()))  # fmt: skip
        send_json(resp, dumps({"parameters": p, "data": summary}))
        resp.cache_control = ["no-store"]


class MonitoringResource:
    """``POST .../start-monitoring`` and ``.../stop-monitoring`` (admin): this worker's CPU/memory sampler."""

    def __init__(self, ctx: ApiContext, start: bool) -> None:
        self.ctx = ctx
        self.start = start

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.ctx.checker.require(req, ADMIN)
        parse_query(req, {})
        body = read_json_body(req)
        allowed = ("interval",) if self.start else ()
        for key in body:
            if key not in allowed:
                raise ParameterError(key, f"unknown field {key!r} (expected: {', '.join(allowed) or 'none'})")
        monitor = ai_calculator_performance
        if self.start:
            interval = body.get("interval")
            if interval is not None and not (_finite(interval) and 1 <= interval <= 3600):
                raise ParameterError("interval", f"'interval' must be a number of seconds from 1 to 3600 "
                                                 f"(got {interval!r})")  # fmt: skip
            changed = call_backend(lambda: monitor.start_monitoring(interval))
            answer = {"started": changed, "monitoring": monitor.is_monitoring,
                      "interval": monitor.sampler.interval}  # fmt: skip
        else:
            changed = monitor.stop_monitoring()
            answer = {"stopped": changed, "monitoring": monitor.is_monitoring}
        send_json(resp, dumps(answer))


class DeletePersonResource:
    """``POST /api/analytics/admin/delete-person`` (admin): body ``{"user_id": ...}``; answers the counts.

    The id travels in the body, never in the URL, so it appears in no access log.
    """

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.ctx.checker.require(req, ADMIN)
        parse_query(req, {})
        body = read_json_body(req)
        for key in body:
            if key != "user_id":
                raise ParameterError(key, f"unknown field {key!r} (expected: user_id)")
        user_id = _string(body, "user_id", 100)
        counts = call_backend(lambda: delete_person(self.ctx.write_engine(), user_id))
        self.ctx.cache.clear()
        send_json(resp, dumps({"deleted": counts, "total": sum(counts.values())}))
        resp.cache_control = ["no-store"]
