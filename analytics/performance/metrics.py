"""The statsd client: ``ai_calculator.``-prefixed counters, timers and gauges sent over UDP.

Configured from ``STATSD_HOST`` (default ``localhost``) and ``STATSD_PORT`` (default ``8125``). Sending is a
single non-blocking ``sendto`` of one datagram per metric (the statsd line protocol, ``name:value|type``), so
a
dead or absent daemon never slows or breaks the caller: lost datagrams are the protocol's accepted cost.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

import statsd

from analytics.errors import ConfigError
from analytics.performance.names import PREFIX

__all__ = ["Metrics", "get_metrics", "set_metrics"]

_log = logging.getLogger(__name__)


class _NullClient(statsd.StatsClient):
    """A client that drops everything (used when the statsd host cannot be resolved)."""

    def __init__(self) -> None:  # noqa: D107 - deliberately skips the socket set-up
        self._prefix = PREFIX
        self._maxudpsize = 512
        self._sock = None

    def _send(self, data: str) -> None:
        return None


class Metrics:
    """Counters, timers and gauges named ``ai_calculator.<name>`` sent to statsd.

    Parameters
    ----------
    host, port:
        The statsd daemon's UDP address.
    prefix:
        Prepended to every name with a dot; a name that already starts with it is not prefixed twice, so
        the seed's ``incr('ai_calculator.assessment_submitted')`` and ``incr('assessment_submitted')`` send
        the same line.
    """

    def __init__(self, host: str = "localhost", port: int = 8125, prefix: str = PREFIX) -> None:
        self.host = host
        self.port = port
        self.prefix = prefix
        self._strip = prefix + "."
        try:
            self._client: statsd.StatsClient = statsd.StatsClient(host, port, prefix=prefix)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            _log.warning("statsd host %r could not be resolved (%s); metrics are dropped", host, exc)
            self._client = _NullClient()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Metrics:
        """Build from ``STATSD_HOST`` / ``STATSD_PORT``.

        Raises
        ------
        ConfigError
            When ``STATSD_PORT`` is not an integer in 1–65535.
        """
        env = os.environ if environ is None else environ
        host = env.get("STATSD_HOST") or "localhost"
        raw_port = env.get("STATSD_PORT") or "8125"
        try:
            port = int(raw_port)
        except ValueError:
            port = -1
        if not 1 <= port <= 65535:
            raise ConfigError(f"STATSD_PORT must be an integer in 1-65535 (got {raw_port!r})")
        return cls(host, port)

    def _name(self, name: str) -> str:
        return name[len(self._strip):] if name.startswith(self._strip) else name

    def incr(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the counter ``name`` (``name:count|c``)."""
        self._client.incr(self._name(name), count)

    def timing(self, name: str, ms: float) -> None:
        """Send one duration in milliseconds (``name:ms|ms``, six decimals)."""
        self._client.timing(self._name(name), ms)

    def gauge(self, name: str, value: float) -> None:
        """Set the gauge ``name`` to ``value`` (``name:value|g``)."""
        self._client.gauge(self._name(name), value)

    def close(self) -> None:
        """Close the UDP socket."""
        self._client.close()


_default: Metrics | None = None
_default_lock = threading.Lock()


def get_metrics() -> Metrics:
    """The process-wide client, built from the environment on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Metrics.from_env()
    return _default


def set_metrics(metrics: Metrics | None) -> None:
    """Replace the process-wide client (``None``: rebuild from the environment on next use)."""
    global _default
    with _default_lock:
        _default = metrics

