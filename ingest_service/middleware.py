"""Cross-cutting request handling: CORS, API keys, the per-client rate limit and request metrics."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import falcon

from ingest_service.config import Config
from ingest_service.metrics import emit_request

__all__ = ["ApiKeyMiddleware", "CorsMiddleware", "MetricsMiddleware", "RateLimitMiddleware", "TokenBucket"]

_OPEN_PATHS = ("/api/analytics/health", "/api/analytics/ready", "/api/analytics/openapi")


class CorsMiddleware:
    """CORS for the configured origins only.

    A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed origin is answered ``204``
    with the allowed methods and headers (cached 10 minutes); from another origin ``403``. Other responses to an
    allowed origin carry ``Access-Control-Allow-Origin`` (the origin itself, with ``Vary: Origin``) and expose
    ``Retry-After``. The sidecar's own origin (its calculator page) is always allowed. A ``POST`` from a browser
    of a non-allowed origin is refused with ``403`` before anything is
    stored (requests without ``Origin``, e.g. from servers, are not affected).
    """

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.any = "*" in origins
        self.origins = frozenset(o.rstrip("/") for o in origins if o != "*")

    def allowed(self, origin: str | None, req: falcon.Request | None = None) -> bool:
        """A configured origin, or the sidecar's own (its calculator page is served from /static)."""
        if not origin:
            return False
        origin = origin.rstrip("/")
        return self.any or origin in self.origins or (req is not None and origin == f"{req.scheme}://{req.netloc}")

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        origin = req.env.get("HTTP_ORIGIN")  # as req.get_header("Origin"), without its KeyError when absent
        if origin is None:
            return
        ok = self.allowed(origin, req)
        if req.method == "OPTIONS" and req.get_header("Access-Control-Request-Method"):
            if not ok:
                raise falcon.HTTPForbidden(
                    title="Origin not allowed",
                    description=f"the origin {origin!r} is not allowed to call this API",
                    code="origin_not_allowed",
                )
            resp.status = falcon.HTTP_204
            resp.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            resp.set_header(
                "Access-Control-Allow-Headers",
                req.get_header("Access-Control-Request-Headers") or "Content-Type, Content-Encoding, X-API-Key",
            )
            resp.set_header("Access-Control-Max-Age", "600")
            resp.complete = True
        elif req.method == "POST" and not ok:
            raise falcon.HTTPForbidden(
                title="Origin not allowed",
                description=f"the origin {origin!r} is not allowed to send events",
                code="origin_not_allowed",
            )

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        origin = req.env.get("HTTP_ORIGIN")
        if origin is not None and self.allowed(origin, req):
            resp.set_header("Access-Control-Allow-Origin", origin)
            resp.set_header("Access-Control-Allow-Credentials", "true")
            resp.set_header("Access-Control-Expose-Headers", "Retry-After")
            resp.append_header("Vary", "Origin")


class ApiKeyMiddleware:
    """When keys are configured, a ``POST`` needs one in ``X-API-Key`` or the ``api_key`` query parameter (401)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = frozenset(keys)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.keys or req.method != "POST" or resp.complete or not req.path.startswith("/api/analytics/event"):
            return  # issue 11: write keys guard event ingest only; the analytics API has its own bearer keys
        key = req.get_header("X-API-Key") or req.get_param("api_key")
        if key not in self.keys:
            raise falcon.HTTPUnauthorized(
                title="API key required",
                description="send a valid key in the X-API-Key header or the api_key query parameter"
                + (" (got an unknown key)" if key else " (got none)"),
                code="invalid_api_key",
            )


class TokenBucket:
    """Per-key token buckets (Turner, "New directions in communications", IEEE Comm. Mag. 1986): ``rate`` tokens
    per second up to ``burst``; a request takes one token or is refused with the wait until the next token."""

    def __init__(self, rate: float, burst: int, max_keys: int = 50_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Take a token for ``key``; returns 0 when granted, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                if len(self._buckets) >= self.max_keys and key not in self._buckets:
                    self._buckets.clear()  # bounded memory: forgetting buckets only ever grants more
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


class RateLimitMiddleware:
    """429 with ``Retry-After`` when a client exceeds its token bucket, per worker.

    A client is its address (from ``X-Forwarded-For`` behind ``trust_forwarded`` proxies), and with a configured
    API key also that key, so senders sharing an address keep their own buckets. A key that is not configured
    does not count: otherwise a client could pass the limit by sending a new made-up key with every request.
    """

    def __init__(self, config: Config) -> None:
        self.bucket = TokenBucket(config.rate_limit, config.rate_burst) if config.rate_limit > 0 else None
        self.proxies = config.trust_forwarded
        self.keys = frozenset(config.api_keys)

    def client(self, req: falcon.Request) -> str:
        env = req.env
        addr = env.get("REMOTE_ADDR") or "unknown"  # as req.remote_addr
        if self.proxies:
            forwarded = env.get("HTTP_X_FORWARDED_FOR")
            if forwarded:
                hops = [hop.strip() for hop in forwarded.split(",")]
                # each trusted proxy appended the address it saw: count them off from the right
                addr = hops[-self.proxies] if len(hops) >= self.proxies else hops[0]
        if self.keys:
            key = env.get("HTTP_X_API_KEY") or req.get_param("api_key")
            if key in self.keys:
                return f"{addr}|{key}"
        return addr

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.bucket is None or req.method == "OPTIONS" or req.path.startswith(_OPEN_PATHS) or resp.complete:
            return
        wait = self.bucket.take(self.client(req))
        if wait > 0:
            raise falcon.HTTPTooManyRequests(
                title="Too many requests",
                description=f"at most {self.bucket.rate:g} requests per second per client (burst "
                f"{self.bucket.burst:g}); retry after {wait:.2f} s",
                code="rate_limited",
                retry_after=max(1, math.ceil(wait)),
            )


class MetricsMiddleware:
    """Times every request and sends ``api.response_time`` / ``api.requests`` (route as templated)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        started = getattr(req.context, "started", None)
        if started is None:
            return
        route = req.uri_template or "unmatched"
        status = resp.status if isinstance(resp.status, int) else int(str(resp.status)[:3])
        emit_request(route, req.method, status, (time.perf_counter() - started) * 1000.0)
