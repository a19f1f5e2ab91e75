"""The Falcon application: ``create_app(config)`` and the WSGI entry point ``ingest_service.app:app``.

Routes (documented in ``ingest_service/openapi.yaml``, served at ``/api/analytics/openapi.yaml``):

- ``POST /api/analytics/event`` — one event or ``{"batch": [...]}``; answers
  ``{"accepted", "duplicates", "rejected": [{"index", "field", "code", "message"}]}`` after the commit;
- ``GET /api/analytics/ab-testing/{test_id}/variant?user_id=…|session_id=…`` — the unit's variant;
- ``GET /api/analytics/health`` (liveness and database reachability), ``GET /api/analytics/ready`` (fails while the
  writer is backed up or the database is down).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import falcon
from sqlalchemy import make_url

from analytics.db import get_engine
from analytics.privacy import check_pseudonym_key, pseudonymize_user_id  # issue 11
from analytics.storage import prepare_events
from ingest_service import api, metrics  # issue 11: api (the authenticated analytics API)
from ingest_service.body import parse_json_unchecked, read_body
from ingest_service.config import Config
from ingest_service.ga4 import GA4Forwarder  # issue 10: GA4 Measurement Protocol forwarding
from ingest_service.ingest import extract_events, validate_request
from ingest_service.middleware import ApiKeyMiddleware, CorsMiddleware, MetricsMiddleware, RateLimitMiddleware
from ingest_service.store import EventsOutcome
from ingest_service.variants import VariantService
from ingest_service.variants import dumps as _dumps
from ingest_service.writer import GroupWriter, UnstorableEvents, WriterUnavailable
from ingest_service.writer_client import RemoteWriter, make_writer

__all__ = ["app", "create_app"]

_log = logging.getLogger(__name__)
_ga4 = GA4Forwarder.from_env()  # issue 10: None unless GA4_MEASUREMENT_ID and GA4_API_SECRET are set
_HERE = Path(__file__).resolve().parent
OPENAPI_PATH = _HERE / "openapi.yaml"
STATIC_DIR = _HERE / "static"
_MAX_UNIT = 100


def _unavailable(exc: WriterUnavailable, retry_after: int) -> falcon.HTTPServiceUnavailable:
    metrics.incr("ingest.unavailable", exc.code)
    return falcon.HTTPServiceUnavailable(
        title="Service unavailable",
        description=f"nothing was stored; retry later ({exc})",
        code=exc.code,
        retry_after=retry_after,
    )


class EventResource:
    """``POST /api/analytics/event``: validate, store durably (group commit), answer per event."""

    def __init__(self, config: Config, writer: GroupWriter | RemoteWriter) -> None:
        self.config = config
        self.writer = writer
        self.dialect = make_url(config.database_url).get_backend_name()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        cfg = self.config
        now = datetime.now(UTC).replace(tzinfo=None)
        # a string no database can store (NUL, a lone surrogate) rejects its event only, not the whole batch
        body, suspect = parse_json_unchecked(read_body(req, cfg.max_body_bytes, cfg.max_decompressed_bytes))
        raws, sent_at = extract_events(body, cfg.max_batch)
        parsed = validate_request(
            raws, sent_at, now=now, max_age=cfg.max_age, max_future=cfg.max_future,
            skew_threshold=cfg.skew_threshold, check_strings=suspect,
        )  # fmt: skip
        accepted = duplicates = 0
        if parsed.events:
            # serialised here, not in the writer; sent as a plain tuple (a third of a named tuple's pickling cost)
            prepared = tuple(prepare_events(parsed.events, self.dialect))
            try:
                new_indices = self.writer.submit("events", prepared, len(parsed.events))
            except WriterUnavailable as exc:
                raise _unavailable(exc, cfg.retry_after) from None
            except UnstorableEvents as exc:
                raise falcon.HTTPBadRequest(
                    title="Bad request",
                    description=f"the database refused these events; nothing was stored ({exc})",
                    code="unstorable",
                ) from None
            result = EventsOutcome.of(parsed.events, new_indices)
            accepted, duplicates = result.accepted, result.duplicates
            metrics.emit_stored(result.new_events)
            if _ga4 is not None and result.new_events:  # issue 10: forward the stored seed events to GA4
                _ga4.submit(result.new_events)
            if duplicates:
                metrics.incr("ingest.duplicates", count=duplicates)
        for event_type in parsed.rejected_types:
            metrics.incr("ingest.rejected", event_type)
        if parsed.corrected:
            metrics.incr("ingest.clock_corrected", count=parsed.corrected)
        resp.status = falcon.HTTP_200 if parsed.events else falcon.HTTP_400
        resp.content_type = falcon.MEDIA_JSON
        if parsed.rejected:
            resp.text = _dumps(
                {"accepted": accepted, "duplicates": duplicates, "rejected": [r.as_dict() for r in parsed.rejected]}
            )
        else:  # the common answer, without an encoder: two integers
            resp.text = f'{{"accepted":{accepted},"duplicates":{duplicates},"rejected":[]}}'


class VariantResource:
    """``GET /api/analytics/ab-testing/{test_id}/variant``."""

    def __init__(self, service: VariantService, pseudonym_key: bytes) -> None:
        self.service = service
        self.pseudonym_key = pseudonym_key  # resolved once, at start-up, as the rest of the configuration

    def on_get(self, req: falcon.Request, resp: falcon.Response, test_id: str) -> None:
        user_id = req.get_param("user_id")
        session_id = req.get_param("session_id")
        unit, unit_type = (user_id, "user_id") if user_id else (session_id, "session_id")
        if not unit:
            raise falcon.HTTPBadRequest(
                title="Bad request",
                description="give the unit as the user_id or session_id query parameter (got neither)",
                code="missing_unit",
            )
        for name, value in (("test_id", test_id), (unit_type, unit)):
            if len(value) > _MAX_UNIT:
                raise falcon.HTTPBadRequest(
                    title="Bad request",
                    description=f"'{name}' must be at most {_MAX_UNIT} characters (got {len(value)})",
                    code="too_long",
                )
            if not value.isprintable() or value.isspace():  # the rule events' ids follow (analytics.events)
                raise falcon.HTTPBadRequest(
                    title="Bad request",
                    description=f"'{name}' must not be blank or contain control, separator or invisible characters "
                    f"(got {value[:40]!r})",
                    code="invalid_string",
                )
        if unit_type == "user_id":  # issue 11: keyed on the pseudonym
            unit = pseudonymize_user_id(unit, key=self.pseudonym_key)
        resp.content_type = falcon.MEDIA_JSON
        resp.text = self.service.variant_json(test_id, unit, unit_type)
        resp.cache_control = ["no-store"]


class HealthResource:
    """Liveness with database reachability (the seed's ``/api/analytics/health``)."""

    def __init__(self, writer: GroupWriter | RemoteWriter) -> None:
        self.writer = writer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.writer.probe()
            database, ok = "ok", True
        except WriterUnavailable as exc:
            database, ok = str(exc), False
        resp.status = falcon.HTTP_200 if ok else falcon.HTTP_503
        resp.content_type = falcon.MEDIA_JSON
        resp.text = _dumps(
            {"status": "healthy" if ok else "unhealthy", "database": database,
             "pending_events": self.writer.pending_events}
        )  # fmt: skip

    on_head = on_get  # uptime monitors often probe with HEAD: the same status, no body (the server drops it)


class ReadyResource:
    """Readiness: 503 while the writer's queue is above the high-water mark or the database is down."""

    def __init__(self, config: Config, writer: GroupWriter | RemoteWriter) -> None:
        self.config = config
        self.writer = writer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        pending, down, last_error = self.writer.status()
        reasons = []
        if pending > self.config.ready_events:
            reasons.append(f"{pending} events waiting (limit {self.config.ready_events})")
        if down:
            reasons.append(f"database unavailable: {last_error}")
        resp.status = falcon.HTTP_503 if reasons else falcon.HTTP_200
        if reasons:
            resp.retry_after = self.config.retry_after
        resp.content_type = falcon.MEDIA_JSON
        resp.text = _dumps({"ready": not reasons, "pending_events": pending, "reasons": reasons})

    on_head = on_get


class OpenApiResource:
    """The OpenAPI document kept in the repository (``ingest_service/openapi.yaml``)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/yaml"
        resp.data = OPENAPI_PATH.read_bytes()


class CalculatorRedirect:
    """``/`` and ``/ai-job-impact-calculator.html`` lead to the calculator page served from ``/static``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = f"?{req.query_string}" if req.query_string else ""  # keep the landing URL's utm_* values
        raise falcon.HTTPFound(f"/static/ai-job-impact-calculator.html{query}")


def _handle_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]) -> None:
    _log.exception("unhandled error on %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(title="Internal error", description="the error was logged")


def create_app(config: Config | None = None) -> falcon.App:
    """Build the application.

    Parameters
    ----------
    config:
        Settings; default :meth:`Config.from_env`. No database connection is made here (the writer thread starts
        on the first request, after gunicorn forked the worker).
    """
    config = config or Config.from_env()
    url = config.database_url

    def engine():
        return get_engine(url)

    writer = make_writer(config, engine)
    app = falcon.App(
        middleware=[
            MetricsMiddleware(),
            CorsMiddleware(config.allowed_origins),
            RateLimitMiddleware(config),
            ApiKeyMiddleware(config.api_keys),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler(Exception, _handle_unexpected)
    app.add_route("/api/analytics/event", EventResource(config, writer))
    app.add_route(
        "/api/analytics/ab-testing/{test_id}/variant",
        VariantResource(VariantService(engine, writer, config.variant_cache_seconds), check_pseudonym_key()),
    )
    app.add_route("/api/analytics/health", HealthResource(writer))
    app.add_route("/api/analytics/ready", ReadyResource(config, writer))
    app.add_route("/api/analytics/openapi.yaml", OpenApiResource())
    api.register(app, config)  # issue 11: dashboard, reports, A/B admin, performance, deletion (ingest_service/api/)
    if STATIC_DIR.is_dir():
        app.add_static_route("/static", str(STATIC_DIR))
        app.add_route("/", CalculatorRedirect())
        app.add_route("/ai-job-impact-calculator.html", CalculatorRedirect())
    return app


app = create_app()
