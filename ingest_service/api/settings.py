"""Settings of the authenticated API, read from the environment (``ApiSettings.from_env``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from analytics.errors import ConfigError

__all__ = ["ApiSettings"]


def _keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in (env.get(name) or "").split(",") if k.strip())


def _int(env: Mapping[str, str], name: str, default: int, ok, expected: str) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise ConfigError(f"{name} must be {expected} (got {raw!r})")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """Keys, cache and limits of the authenticated API.

    Attributes
    ----------
    read_keys, admin_keys:
        ``ANALYTICS_READ_KEYS`` / ``ANALYTICS_ADMIN_KEYS``: comma-separated bearer keys. An admin key can also
        read. With no key configured every protected endpoint answers 401 (the API fails closed).
    cache_seconds:
        ``ANALYTICS_API_CACHE_SECONDS``: how long dashboard and report answers are reused per parameter set,
        300–900 (the seed's 5–15 minutes; default 300), or 0 to switch the cache off.
    max_range_days:
        ``ANALYTICS_API_MAX_RANGE_DAYS``: the longest ``start_date``..``end_date`` range accepted (default 366).
    read_database_url:
        ``ANALYTICS_READ_DATABASE_URL`` (a read replica) or, when unset, the sidecar's database.
    """

    read_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()
    cache_seconds: int = 300
    max_range_days: int = 366
    read_database_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if environ is None else environ
        return cls(
            read_keys=_keys(env, "ANALYTICS_READ_KEYS"),
            admin_keys=_keys(env, "ANALYTICS_ADMIN_KEYS"),
            cache_seconds=_int(env, "ANALYTICS_API_CACHE_SECONDS", 300, lambda v: v == 0 or 300 <= v <= 900,
                               "0 (off) or a number of seconds from 300 to 900"),
            max_range_days=_int(env, "ANALYTICS_API_MAX_RANGE_DAYS", 366, lambda v: v >= 1, "an integer >= 1"),
            read_database_url=(env.get("ANALYTICS_READ_DATABASE_URL") or "").strip() or None,
        )
