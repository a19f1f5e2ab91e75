"""The sidecar's settings, read from environment variables.

Every setting has a default, so ``gunicorn ingest_service.app:app`` with only ``DATABASE_URL`` set is a working
deployment. A malformed value raises :class:`analytics.errors.ConfigError` naming the variable, what was
expected and what was got, at start-up rather than on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from analytics.db import database_url, normalise_url
from analytics.errors import ConfigError

__all__ = ["Config"]


def _int(env: Mapping[str, str], name: str, default: int | None, minimum: int = 0) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum} (got {raw!r})")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= minimum:  # also catches NaN
        raise ConfigError(f"{name} must be a number >= {minimum:g} (got {raw!r})")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return choices[0]
    if raw.strip().lower() not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {raw!r})")
    return raw.strip().lower()


def _proxies(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name)
    value = (raw or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return 0
    if value in ("true", "yes", "on"):
        return 1
    if value.isdigit():
        return int(value)
    raise ConfigError(f"{name} must be the number of trusted proxies (0, 1, 2, ...) or true/false (got {raw!r})")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name) or ""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Origins as browsers send them: ``*``, or ``scheme://host[:port]`` (http/https, no path), lower-cased.

    A value that no browser's ``Origin`` header can equal (no scheme, a path) is a start-up error: before, it was
    kept and silently matched nothing, so the calculator's events got 403 with no hint at the cause."""
    out = []
    for item in _list(env, name):
        if item == "*":
            out.append(item)
            continue
        origin = item.rstrip("/").lower()
        scheme, sep, host = origin.partition("://")
        if not sep or scheme not in ("http", "https") or not host or any(c in host for c in "/?#@ "):
            raise ConfigError(
                f"{name} must list origins as scheme://host[:port] (http or https, no path) or * (got {item!r})"
            )
        out.append(origin)
    return tuple(out)


@dataclass(frozen=True)
class Config:
    """Settings of one sidecar process.

    Attributes
    ----------
    database_url:
        ``DATABASE_URL`` (default: the embedded SQLite file, see :func:`analytics.db.database_url`).
    allowed_origins:
        ``INGEST_ALLOWED_ORIGINS``: comma-separated origins (``https://calc.example.com``) that may call the API
        from a browser; ``*`` allows any. Empty: no CORS headers at all.
    api_keys:
        ``INGEST_API_KEYS``: comma-separated keys; when set, ``POST`` needs one in ``X-API-Key`` or ``?api_key=``
        (public write keys, as Segment's: they identify the sender, they are not secrets).
    max_body_bytes, max_decompressed_bytes:
        ``INGEST_MAX_BODY_BYTES`` (default 1 MiB) for the body as sent, ``INGEST_MAX_DECOMPRESSED_BYTES``
        (default 4 MiB) after gzip.
    max_batch:
        ``INGEST_MAX_BATCH``: events per request (default 500).
    max_age, max_future:
        The acceptance window: ``INGEST_MAX_AGE_DAYS`` (default 7) and ``INGEST_MAX_FUTURE_SECONDS`` (300).
    skew_threshold:
        ``INGEST_SKEW_THRESHOLD_SECONDS`` (default 30): the client's clock is corrected from ``sent_at`` only
        when it differs from the server's by more than this (less is indistinguishable from network latency).
    queue_events:
        ``INGEST_QUEUE_EVENTS``: events waiting for the writer (process, or thread of a worker) before ``503`` (default
        20,000).
    ready_events:
        ``INGEST_READY_EVENTS``: the readiness check fails above this many waiting events (default: half the
        queue).
    write_timeout:
        ``INGEST_WRITE_TIMEOUT``: seconds a request waits for its commit before ``503`` (default 10); also the
        SQLite busy timeout of the writer's connection.
    group_max_events:
        ``INGEST_GROUP_MAX_EVENTS``: events written in one transaction at most (default 5,000).
    retry_after:
        ``INGEST_RETRY_AFTER``: seconds put in ``Retry-After`` of a ``503`` (default 2).
    db_backoff:
        ``INGEST_DB_BACKOFF``: after a failed connection the writer answers ``503`` at once for this many seconds
        before trying the database again (default 1).
    rate_limit, rate_burst:
        ``INGEST_RATE_LIMIT`` requests per second per client and worker (default 50; 0 disables) with a burst of
        ``INGEST_RATE_BURST`` (default 100).
    trust_forwarded:
        ``INGEST_TRUST_FORWARDED``: how many proxies in front of the sidecar append to ``X-Forwarded-For``
        (default 0: the header is ignored; ``true`` means 1). The rate limit's client is then the address the
        outermost of them saw, the ``trust_forwarded``-th entry from the right: entries further left are whatever
        the client itself sent, so taking the first one would let any client choose its own bucket.
    variant_cache_seconds:
        ``INGEST_VARIANT_CACHE_SECONDS``: how long a test's configuration is cached (default 5).
    wal_autocheckpoint:
        ``INGEST_WAL_AUTOCHECKPOINT``: on SQLite, the WAL pages after which the writer's commit checkpoints (at
        least 100; SQLite's own default is 1,000). Default None: 40 MiB of WAL at the file's page size
        (:data:`ingest_service.writer_server.WAL_CHECKPOINT_BYTES`; 2,560 pages of 16 KiB, 10,240 of 4 KiB).
        Measured: 100-event batches +5-14 % against 1,000 pages of 4 KiB (fewer checkpoints copying pages the next
        group dirties again), single events unchanged; with 16 KiB pages, 2,500 pages against 10,000: the same
        rate, a lower p99 (docs/ingest.md).
    sqlite_cache_mb:
        ``INGEST_SQLITE_CACHE_MB``: on SQLite, the writer connection's page cache in MiB (default 128; SQLite's own
        default is 2). First exposures are keyed by a random pseudonym, so each lands on a random page of
        ``ab_assignments``' key; with SQLite's 2 MiB cache those pages are read back from the file on every flush.
        Measured in-process (3,000-row flushes, 600,000 rows stored): 15.4 -> 10.3 µs of writer CPU per exposure.
    migrate:
        ``INGEST_MIGRATE`` (default true): the writer applies the Alembic migrations on its first connection, so
        ``gunicorn ingest_service.app:app`` without the config file works on a new database (the config file's
        master applies them before forking and turns this off for its workers).
    writer:
        ``INGEST_WRITER``: ``process`` (default) -- one writer process per machine and database serves every
        worker (:mod:`ingest_service.writer_server`); ``thread`` -- a group writer thread in each worker.
    """

    database_url: str = field(default_factory=database_url)
    allowed_origins: tuple[str, ...] = ()
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20
    max_decompressed_bytes: int = 4 << 20
    max_batch: int = 500
    max_age: timedelta = timedelta(days=7)
    max_future: timedelta = timedelta(minutes=5)
    skew_threshold: timedelta = timedelta(seconds=30)
    queue_events: int = 20_000
    ready_events: int = 10_000
    write_timeout: float = 10.0
    group_max_events: int = 5_000
    retry_after: int = 2
    db_backoff: float = 1.0
    rate_limit: float = 50.0
    rate_burst: int = 100
    trust_forwarded: int = 0
    variant_cache_seconds: float = 5.0
    wal_autocheckpoint: int | None = None
    sqlite_cache_mb: int = 128
    migrate: bool = True
    writer: str = "process"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Build the settings from ``environ`` (default ``os.environ``); see the attributes for the names."""
        env = os.environ if environ is None else environ
        queue = _int(env, "INGEST_QUEUE_EVENTS", 20_000, 1)
        url = env.get("DATABASE_URL")
        return cls(
            database_url=normalise_url(url) if url else database_url(),  # a relative SQLite path made absolute
            allowed_origins=_origins(env, "INGEST_ALLOWED_ORIGINS"),
            api_keys=_list(env, "INGEST_API_KEYS"),
            max_body_bytes=_int(env, "INGEST_MAX_BODY_BYTES", 1 << 20, 1),
            max_decompressed_bytes=_int(env, "INGEST_MAX_DECOMPRESSED_BYTES", 4 << 20, 1),
            max_batch=_int(env, "INGEST_MAX_BATCH", 500, 1),
            max_age=timedelta(days=_float(env, "INGEST_MAX_AGE_DAYS", 7.0)),
            max_future=timedelta(seconds=_float(env, "INGEST_MAX_FUTURE_SECONDS", 300.0)),
            skew_threshold=timedelta(seconds=_float(env, "INGEST_SKEW_THRESHOLD_SECONDS", 30.0)),
            queue_events=queue,
            ready_events=_int(env, "INGEST_READY_EVENTS", max(queue // 2, 1), 1),
            write_timeout=_float(env, "INGEST_WRITE_TIMEOUT", 10.0, 0.1),
            group_max_events=_int(env, "INGEST_GROUP_MAX_EVENTS", 5_000, 1),
            retry_after=_int(env, "INGEST_RETRY_AFTER", 2, 1),
            db_backoff=_float(env, "INGEST_DB_BACKOFF", 1.0),
            rate_limit=_float(env, "INGEST_RATE_LIMIT", 50.0),
            rate_burst=_int(env, "INGEST_RATE_BURST", 100, 1),
            trust_forwarded=_proxies(env, "INGEST_TRUST_FORWARDED"),
            variant_cache_seconds=_float(env, "INGEST_VARIANT_CACHE_SECONDS", 5.0),
            wal_autocheckpoint=_int(env, "INGEST_WAL_AUTOCHECKPOINT", None, 100),
            sqlite_cache_mb=_int(env, "INGEST_SQLITE_CACHE_MB", 128, 1),
            migrate=_choice(env, "INGEST_MIGRATE", ("1", "true", "yes", "0", "false", "no")) in ("1", "true", "yes"),
            writer=_choice(env, "INGEST_WRITER", ("process", "thread")),
        )
