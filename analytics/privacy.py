"""The seed's "Data Privacy and Compliance": pseudonymous user ids, retention, deletion requests, masked logs.

Pseudonymisation. A user id from the calculator is stored as ``p_`` + hex(HMAC-SHA256(key, user id)) (RFC 2104
with SHA-256, FIPS 180-4): deterministic, so one person's events, sessions and A/B assignments stay linked, but
not reversible without the key, and -- unlike a plain hash -- not recoverable by hashing a list of candidate ids
unless the key leaks. The key is ``ANALYTICS_PSEUDONYM_KEY`` (at least 16 characters; 32 random bytes
recommended). When it is unset, production mode (``ANALYTICS_ENV=production``) refuses to run
(:class:`~analytics.errors.ConfigError`); elsewhere a fixed development key is used and a warning is logged once.
``ANALYTICS_PSEUDONYM_OLD_KEYS`` (comma-separated) lists retired keys, so a deletion request still finds rows
pseudonymised before a key rotation. This is pseudonymisation in the sense of GDPR Art. 4(5), not anonymisation:
whoever holds the key can link an id to its rows, which is what makes deletion requests possible.

Retention. :func:`purge_older_than` deletes events (and their ``event_keys``, ``assessments`` and ``sessions``
rows) older than a number of days, in batches of short transactions, so the ingest writer is never locked out
for longer than one batch.

Deletion. :func:`delete_person` removes every row about one person in one transaction and reports the counts.

Logs. :class:`SensitiveDataFilter` masks e-mail addresses, bearer tokens, API keys, passwords in URLs, secrets,
user ids in query strings and IP addresses; :func:`install_log_masking` applies it to every log record of the
process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, union

from analytics.errors import ConfigError, InvalidParameterError
from analytics.schema import ab_assignments, analytics_events, assessments, event_keys, sessions

__all__ = [
    "DEV_PSEUDONYM_KEY",
    "PSEUDONYM_PREFIX",
    "PurgeResult",
    "SensitiveDataFilter",
    "check_pseudonym_key",
    "delete_person",
    "install_log_masking",
    "protect_event",
    "mask_sensitive",
    "pseudonym_candidates",
    "pseudonymize_user_id",
    "purge_older_than",
    "remaining_rows",
    "scrub_event_data",
]

_log = logging.getLogger(__name__)

PSEUDONYM_PREFIX = "p_"
#: Used only outside production when ``ANALYTICS_PSEUDONYM_KEY`` is unset (a warning is logged once).
DEV_PSEUDONYM_KEY = "ai-calculator-analytics-development-pseudonym-key"
_MIN_KEY_LENGTH = 16
_warned = threading.Event()


def _production(env: Mapping[str, str]) -> bool:
    return (env.get("ANALYTICS_ENV") or "").strip().lower() in ("production", "prod")


def check_pseudonym_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The pseudonymisation key from the environment, validated.

    Raises
    ------
    ConfigError
        When ``ANALYTICS_PSEUDONYM_KEY`` is unset in production mode, or shorter than 16 characters.
    """
    env = os.environ if environ is None else environ
    key = env.get("ANALYTICS_PSEUDONYM_KEY") or ""
    if len(key) >= _MIN_KEY_LENGTH:
        return key.encode()
    if not key:
        if _production(env):
            raise ConfigError(
                "ANALYTICS_PSEUDONYM_KEY must be set when ANALYTICS_ENV=production (got nothing); generate one "
                "with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if not _warned.is_set():
            _warned.set()
            _log.warning(
                "ANALYTICS_PSEUDONYM_KEY is not set: user ids are pseudonymised with the PUBLIC development key; "
                "set a secret key before storing real data (ANALYTICS_ENV=production refuses to start without one)"
            )
        return DEV_PSEUDONYM_KEY.encode()
    if len(key) < _MIN_KEY_LENGTH:
        raise ConfigError(
            f"ANALYTICS_PSEUDONYM_KEY must be at least {_MIN_KEY_LENGTH} characters (got {len(key)} characters)"
        )
    return key.encode()


def _hmac_id(key: bytes, user_id: str) -> str:
    template = _HMAC_TEMPLATES.get(key)
    if template is None:  # the keyed state is computed once per key; each id copies it
        if len(_HMAC_TEMPLATES) > 16:
            _HMAC_TEMPLATES.clear()
        template = _HMAC_TEMPLATES[key] = hmac.new(key, digestmod=hashlib.sha256)
    h = template.copy()
    h.update(user_id.encode("utf-8"))
    return PSEUDONYM_PREFIX + h.hexdigest()


_HMAC_TEMPLATES: dict[bytes, Any] = {}


def pseudonymize_user_id(
    user_id: str | None, environ: Mapping[str, str] | None = None, *, key: bytes | None = None
) -> str | None:
    """The stored form of a calculator user id: ``p_`` + hex HMAC-SHA256 (66 characters); ``None``/"" → ``None``.

    Parameters
    ----------
    user_id:
        The id as the calculator sends it.
    environ:
        Where to read ``ANALYTICS_PSEUDONYM_KEY`` (default ``os.environ``; see :func:`check_pseudonym_key`).
    key:
        The key itself, as :func:`check_pseudonym_key` returned it once (a service resolving it at start-up
        saves reading the environment on every request); ``environ`` is then not read.
    """
    if not user_id:
        return None
    return _hmac_id(check_pseudonym_key(environ) if key is None else key, user_id)


def pseudonym_candidates(user_id: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every stored form a person's id can have: as given, under the current key and under each retired key."""
    env = os.environ if environ is None else environ
    keys = [check_pseudonym_key(env)]
    keys += [k.strip().encode() for k in (env.get("ANALYTICS_PSEUDONYM_OLD_KEYS") or "").split(",") if k.strip()]
    return list(dict.fromkeys([user_id, *(_hmac_id(k, user_id) for k in keys)]))


def protect_event(event: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Make a validated event storable: pseudonymise its ``user_id`` and mask e-mails in ``event_data`` (in place).

    Called by the ingest sidecar on every accepted event, so raw user ids and e-mail addresses never reach the
    database (nor the GA4 forwarder, which sends what was stored).
    """
    event.user_id = pseudonymize_user_id(event.user_id, environ)
    scrub_event_data(event.event_data)
    return event


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def scrub_event_data(data: dict[str, Any]) -> dict[str, Any]:
    """Replace e-mail addresses in any string of ``event_data`` (nested too) by ``[email]``, in place."""
    for key, value in data.items():
        if type(value) is str:  # the common case first: most values are plain strings without "@"
            if "@" in value:
                data[key] = _EMAIL.sub("[email]", value)
        elif isinstance(value, str) and "@" in value:
            data[key] = _EMAIL.sub("[email]", value)
        elif isinstance(value, dict):
            scrub_event_data(value)
        elif isinstance(value, list):
            data[key] = [_EMAIL.sub("[email]", v) if isinstance(v, str) and "@" in v else v for v in value]
            for v in data[key]:
                if isinstance(v, dict):
                    scrub_event_data(v)
    return data


# --- retention ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeResult:
    """Rows deleted per table by :func:`purge_older_than`, the cutoff used and the number of batches."""

    cutoff: datetime
    deleted: dict[str, int]
    batches: int


def _batched(engine: Engine, table, pk, where, batch_size: int, pause: float) -> tuple[int, int]:
    """Delete ``table`` rows matching ``where``, ``batch_size`` at a time, each batch its own transaction."""
    total = batches = 0
    while True:
        with engine.begin() as conn:
            ids = select(pk).where(where).limit(batch_size).scalar_subquery()
            n = conn.execute(delete(table).where(where, pk.in_(ids))).rowcount
        total += n
        batches += 1
        if n < batch_size:
            return total, batches
        if pause:
            time.sleep(pause)


def purge_older_than(
    engine: Engine,
    days: int,
    batch_size: int = 5000,
    *,
    now: datetime | None = None,
    pause: float = 0.0,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete everything older than ``days`` days, in batches of at most ``batch_size`` rows per transaction.

    Deleted: events with ``timestamp < now - days``; their dedup keys (``event_keys.event_timestamp`` before the
    cutoff); assessments created before it; sessions whose last event is before it. A batch holds the write lock
    for one short transaction only (SQLite: one writer at a time, so ingest waits at most one batch; PostgreSQL:
    row locks on the batch), never for the whole purge. The retention must be longer than the ingest's
    acceptance window (``INGEST_MAX_AGE_DAYS``, 7 by default): a retried event older than the cutoff is refused
    by ingest, so forgetting its dedup key cannot make it stored twice.

    Parameters
    ----------
    engine:
        The write database.
    days:
        Retention in days (integer ≥ 1).
    batch_size:
        Rows per transaction (≥ 1).
    now:
        The reference time (naive UTC; default: now).
    pause:
        Seconds to sleep between batches (lets a busy writer in).
    dry_run:
        Count what would be deleted, delete nothing (``batches`` is then 0).

    Returns
    -------
    PurgeResult
        Counts per table (``analytics_events``, ``event_keys``, ``assessments``, ``sessions``).
    """
    for name, value in (("days", days), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidParameterError(name, f"'{name}' must be an integer >= 1 (got {name}={value!r})")
    cutoff = (now or datetime.now(UTC).replace(tzinfo=None)) - timedelta(days=days)
    ev, a, k, s = analytics_events, assessments, event_keys, sessions
    plan = (
        ("analytics_events", ev, ev.c.id, ev.c.timestamp < cutoff),
        ("event_keys", k, k.c.event_id, k.c.event_timestamp < cutoff),
        ("assessments", a, a.c.id, a.c.created_at < cutoff),
        ("sessions", s, s.c.session_id, s.c.last_seen < cutoff),
    )
    deleted: dict[str, int] = {}
    batches = 0
    if dry_run:
        with engine.connect() as conn:
            for name, table, _pk, where in plan:
                deleted[name] = conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()
        return PurgeResult(cutoff, deleted, 0)
    for name, table, pk, where in plan:
        deleted[name], b = _batched(engine, table, pk, where, batch_size, pause)
        batches += b
    _log.info("purged data older than %s: %s in %d batches", cutoff.isoformat(), deleted, batches)
    return PurgeResult(cutoff, deleted, batches)


# --- deletion requests ----------------------------------------------------------------------------------------

_CHUNK = 500


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def delete_person(engine: Engine, user_id: str, *, environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Remove every row about one person, in one transaction; returns the rows deleted per table.

    The person is found by every stored form of ``user_id`` (as given, and pseudonymised under the current and
    the retired keys, see :func:`pseudonym_candidates`). Their sessions are every session in which any of those
    ids appears (``sessions``, ``analytics_events``, ``assessments``); all events of those sessions go too,
    including the anonymous ones before the person identified (the identity rule makes them the person's).
    Deleted: ``analytics_events``, their ``event_keys``, ``assessments``, ``sessions`` and the A/B
    ``ab_assignments`` whose unit is one of the ids or sessions. ``ab_tests``, ``alert_log`` and ``report_runs``
    hold no user or session ids (configurations, aggregate alerts, report runs) and are not touched.
    """
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 100:
        raise InvalidParameterError(
            "user_id", f"'user_id' must be a non-empty string of at most 100 characters (got {user_id!r})"
        )
    ids = pseudonym_candidates(user_id, environ)
    ev, a, k, s, ab = analytics_events, assessments, event_keys, sessions, ab_assignments
    counts = dict.fromkeys(("analytics_events", "event_keys", "assessments", "sessions", "ab_assignments"), 0)
    with engine.begin() as conn:
        found = union(
            select(s.c.session_id).where(s.c.user_id.in_(ids)),
            select(ev.c.session_id).where(ev.c.user_id.in_(ids)),
            select(a.c.session_id).where(a.c.user_id.in_(ids)),
        )
        session_ids = sorted(set(conn.execute(found).scalars()))
        event_ids: set[str] = set(conn.execute(select(ev.c.event_id).where(ev.c.user_id.in_(ids))).scalars())
        for part in _chunks(session_ids):
            event_ids.update(conn.execute(select(ev.c.event_id).where(ev.c.session_id.in_(part))).scalars())
        for part in _chunks(sorted(event_ids)):
            counts["event_keys"] += conn.execute(delete(k).where(k.c.event_id.in_(part))).rowcount
        counts["analytics_events"] += conn.execute(delete(ev).where(ev.c.user_id.in_(ids))).rowcount
        counts["assessments"] += conn.execute(delete(a).where(a.c.user_id.in_(ids))).rowcount
        for part in _chunks(session_ids):
            counts["analytics_events"] += conn.execute(delete(ev).where(ev.c.session_id.in_(part))).rowcount
            counts["assessments"] += conn.execute(delete(a).where(a.c.session_id.in_(part))).rowcount
            counts["sessions"] += conn.execute(delete(s).where(s.c.session_id.in_(part))).rowcount
        for part in _chunks([*ids, *session_ids]):
            counts["ab_assignments"] += conn.execute(delete(ab).where(ab.c.unit_id.in_(part))).rowcount
    _log.info("deletion request executed: %s", counts)
    return counts


def remaining_rows(engine: Engine, user_id: str, *, environ: Mapping[str, str] | None = None) -> int:
    """Rows still mentioning any stored form of ``user_id`` (0 after :func:`delete_person`); for audits."""
    ids = pseudonym_candidates(user_id, environ)
    checks = (
        select(func.count()).where(analytics_events.c.user_id.in_(ids)),
        select(func.count()).where(assessments.c.user_id.in_(ids)),
        select(func.count()).where(sessions.c.user_id.in_(ids)),
        select(func.count()).where(ab_assignments.c.unit_id.in_(ids)),
    )
    with engine.connect() as conn:
        return sum(int(conn.execute(q).scalar() or 0) for q in checks)


# --- logs -----------------------------------------------------------------------------------------------------

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:basic\s+)?[^\s&\"',;}]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(x-api-key|api[_-]?key|access[_-]?token|token|secret|password|passwd|api_secret|user_id)"
                r"([\"']?\s*[:=]\s*[\"']?)[^\s&\"',;}]+"), r"\1\2[redacted]"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]+@"), r"\1:[redacted]@"),
    (_EMAIL, "[email]"),
    (re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"), "[ip]"),
    (re.compile(r"(?i)(?<![\w:])(?=[0-9a-f:]*::|(?:[0-9a-f]{1,4}:){5})(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])"),
     "[ip]"),
)
_SECRET_ENV = ("ANALYTICS_READ_KEYS", "ANALYTICS_ADMIN_KEYS", "ANALYTICS_PSEUDONYM_KEY",
               "ANALYTICS_PSEUDONYM_OLD_KEYS", "INGEST_API_KEYS", "GA4_API_SECRET", "SMTP_PASSWORD",
               "PAGERDUTY_API_KEY", "PAGERDUTY_ROUTING_KEY")  # fmt: skip


def _secret_values(env: Mapping[str, str]) -> list[str]:
    values = {v.strip() for name in _SECRET_ENV for v in (env.get(name) or "").split(",") if len(v.strip()) >= 4}
    return sorted(values, key=len, reverse=True)


def mask_sensitive(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with secrets, e-mail addresses, tokens, keys, URL passwords, user ids and IP addresses masked."""
    for value in secrets:
        if value in text:
            text = text.replace(value, "[redacted]")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class SensitiveDataFilter(logging.Filter):
    """A logging filter that masks the record's message and traceback (see :func:`mask_sensitive`).

    The configured secrets (API keys, the pseudonym key, GA4/SMTP/PagerDuty secrets) are read from ``environ``
    once and masked wherever they appear, whatever their shape.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.secrets = _secret_values(os.environ if environ is None else environ)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as is, never dropped
            message = str(record.msg)
        record.msg, record.args = mask_sensitive(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_sensitive(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask_sensitive(record.stack_info, self.secrets)
        record._masked = True
        return True


_installed: dict[str, SensitiveDataFilter] = {}
_install_lock = threading.Lock()


def install_log_masking(environ: Mapping[str, str] | None = None) -> SensitiveDataFilter:
    """Mask every log record created in this process from now on (a log record factory; idempotent).

    A factory, rather than a filter on some handlers, also covers handlers added later (gunicorn's access and
    error logs, pytest's capture) and loggers that do not propagate. Calling it again refreshes the secrets.
    """
    with _install_lock:
        masking = _installed.get("filter")
        if masking is not None:
            masking.secrets = _secret_values(os.environ if environ is None else environ)
            return masking
        masking = _installed["filter"] = SensitiveDataFilter(environ)
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            masking.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        return masking
