"""What every API resource shares: the API context (settings, keys, cache, engines), backend error translation,
and the generic cached, authenticated ``GET`` resource."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import falcon
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from analytics.db import get_engine
from analytics.errors import AnalyticsError, InvalidParameterError, NotFoundError, StorageError
from ingest_service.api.auth import KeyChecker
from ingest_service.api.cache import AnswerCache
from ingest_service.api.jsonable import dumps, to_jsonable
from ingest_service.api.params import ParameterError, Parser, check_range, parse_query
from ingest_service.api.settings import ApiSettings
from ingest_service.body import parse_json, read_body

__all__ = ["ApiContext", "QueryResource", "call_backend", "read_json_body", "send_json"]

_log = logging.getLogger(__name__)
_MAX_BODY = 64 * 1024


@dataclass
class ApiContext:
    """The API's shared state in one worker process."""

    settings: ApiSettings
    database_url: str
    checker: KeyChecker = field(init=False)
    cache: AnswerCache = field(init=False)

    def __post_init__(self) -> None:
        self.checker = KeyChecker(self.settings.read_keys, self.settings.admin_keys)
        self.cache = AnswerCache(self.settings.cache_seconds)

    @property
    def read_url(self) -> str:
        return self.settings.read_database_url or self.database_url

    def write_engine(self) -> Engine:
        return get_engine(self.database_url)

    def read_engine(self) -> Engine:
        return get_engine(self.read_url)


def call_backend(fn: Callable[[], Any]) -> Any:
    """Run an analytics call, turning its errors into HTTP answers (400 naming the parameter, 404, 409, 503)."""
    try:
        return fn()
    except InvalidParameterError as exc:
        if exc.name == "status":
            raise falcon.HTTPConflict(title="Conflict", description=exc.message, code="invalid_state") from None
        raise ParameterError(exc.name, exc.message) from None
    except NotFoundError as exc:
        raise falcon.HTTPNotFound(title="Not found", description=f"'{exc.kind}_id' {exc.key!r} does not exist",
                                  code="not_found") from None  # fmt: skip
    except IntegrityError:
        raise falcon.HTTPConflict(title="Conflict", description="the object exists already",
                                  code="conflict") from None  # fmt: skip
    except (OperationalError, StorageError) as exc:
        _log.warning("database unavailable: %s", exc)
        raise falcon.HTTPServiceUnavailable(title="Service unavailable", description="the database is unavailable",
                                            code="database_unavailable", retry_after=5) from None  # fmt: skip
    except (SQLAlchemyError, AnalyticsError):
        _log.exception("analytics call failed")
        raise falcon.HTTPInternalServerError(title="Internal error", description="the error was logged") from None


def send_json(resp: falcon.Response, body: bytes, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = body


def read_json_body(req: falcon.Request) -> dict[str, Any]:
    """The JSON object in the body (an empty body is ``{}``); 400 when it is not an object."""
    if not req.content_length and req.get_header("Transfer-Encoding") is None:
        return {}
    value = parse_json(read_body(req, _MAX_BODY, _MAX_BODY))
    if not isinstance(value, dict):
        raise falcon.HTTPBadRequest(title="Bad request", description="the body must be a JSON object",
                                    code="invalid_body")  # fmt: skip
    return value


class QueryResource:
    """An authenticated ``GET`` answering ``{"parameters": {...}, "data": ...}`` from an analytics call.

    Parameters
    ----------
    ctx:
        The API context.
    scope:
        ``"read"`` or ``"admin"``.
    spec:
        The accepted query parameters and their parsers.
    compute:
        ``compute(ctx, params)`` returning the data (any shape :func:`to_jsonable` handles).
    cached:
        Reuse answers per parameter set for the configured time.
    """

    def __init__(self, ctx: ApiContext, scope: str, spec: Mapping[str, Parser],
                 compute: Callable[[ApiContext, dict[str, Any]], Any], cached: bool = True) -> None:  # fmt: skip
        self.ctx = ctx
        self.spec = spec
        self.compute = compute
        self.cached = cached
        self.scope = scope

    def on_get(self, req: falcon.Request, resp: falcon.Response, **path: str) -> None:
        self.ctx.checker.require(req, self.scope)
        params = {**parse_query(req, self.spec), **path}
        check_range(params, self.ctx.settings.max_range_days)

        def produce() -> bytes:
            data = call_backend(lambda: self.compute(self.ctx, dict(params)))
            return dumps({"parameters": to_jsonable(params), "data": data})

        if not self.cached:
            send_json(resp, produce())
            resp.cache_control = ["no-store"]
            return
        key = (req.path, tuple(sorted((k, str(v)) for k, v in params.items())))
        body, hit, age = self.ctx.cache.get_or_compute(key, produce)
        send_json(resp, body)
        resp.set_header("X-Cache", "hit" if hit else "miss")
        resp.set_header("Age", str(int(age)))
        resp.cache_control = ["private", f"max-age={max(0, int(self.ctx.settings.cache_seconds - age))}"]
