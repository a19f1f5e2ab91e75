"""The alert loop: evaluate the rules every ``interval`` seconds and dispatch what is due."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from analytics.alerts.channels import channels_from_env
from analytics.alerts.config import AlertConfig, load_config
from analytics.alerts.dispatch import Delivery, Dispatcher
from analytics.alerts.engine import AlertEngine, Observation
from analytics.alerts.observe import ObservationSource
from analytics.errors import InvalidParameterError
from analytics.performance.monitor import PerformanceMonitor

__all__ = ["AlertRunner"]

_log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class AlertRunner:
    """Rules + observation source + dispatcher, evaluated on demand or by a background thread.

    Parameters
    ----------
    config:
        Rules, silences, repeat interval (see :func:`analytics.alerts.config.load_config`).
    source:
        ``source(metric, window_seconds, now) -> Observation``.
    dispatcher:
        Sends and records the notifications.
    clock:
        Naive-UTC "now" (tests pass a controllable clock).
    """

    def __init__(self, config: AlertConfig, source: Callable[[str, float, datetime], Observation],
                 dispatcher: Dispatcher, clock: Callable[[], datetime] = _utcnow) -> None:
        self.engine = AlertEngine(config.rules, source, clock, config.repeat_seconds, config.silences)
        self.dispatcher = dispatcher
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, monitor: PerformanceMonitor, engine: Engine | None = None,
                 config_path: str | None = None) -> AlertRunner:
        """Configured from the environment (``ALERT_RULES_FILE``, channel settings); logs to ``engine``."""
        source = ObservationSource(monitor, engine)
        return cls(load_config(config_path), source, Dispatcher(channels_from_env(), engine))

    def evaluate_once(self) -> list[Delivery]:
        """One evaluation: advance every rule and send the notifications due."""
        return self.dispatcher.dispatch(self.engine.evaluate())

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.evaluate_once()
            except Exception:  # noqa: BLE001 - one failed evaluation must not stop alerting
                _log.exception("alert evaluation failed")

    def start(self, interval: float = 30.0) -> bool:
        """Evaluate every ``interval`` seconds in a daemon thread; ``False`` when already running."""
        if not interval > 0:
            raise InvalidParameterError(
                "interval", f"'interval' must be > 0 seconds (got interval={interval!r})")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(interval,), name="alert-runner",
                                            daemon=True)
            self._thread.start()
            return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop and join the loop; ``False`` when it was not running."""
        with self._lock:
            if self._thread is None:
                return False
            self._stop.set()
            self._thread.join(timeout)
            self._thread = None
            return True
