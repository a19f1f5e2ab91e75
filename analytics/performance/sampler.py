"""Background sampler of process and system CPU and memory (psutil), sent as statsd gauges and kept for
alerts.

psutil's ``cpu_percent(interval=None)`` compares against the previous call, so its first call returns a
meaningless 0.0: the sampler primes both the system and the process counters when it starts and reports its
first sample one interval later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from analytics.errors import InvalidParameterError
from analytics.performance.metrics import Metrics

__all__ = ["SystemSample", "SystemSampler"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SystemSample:
    """CPU and memory at epoch ``at``: system-wide %, this process' CPU % (of one core), RSS bytes."""

    at: float
    system_cpu_percent: float
    system_memory_percent: float
    process_cpu_percent: float
    process_rss_bytes: int


class SystemSampler:
    """A stoppable daemon thread taking a :class:`SystemSample` every ``interval`` seconds.

    Parameters
    ----------
    interval:
        Seconds between samples (> 0).
    metrics:
        Where the gauges go (``system.cpu_percent``, ``system.memory_percent``, ``process.cpu_percent``,
        ``process.rss_bytes``); ``None`` sends nothing.
    keep:
        How many samples to keep in memory (default one day at 10 s).
    clock:
        Epoch seconds for the samples' ``at`` (tests pass a fake one).
    """

    def __init__(self, interval: float = 10.0, metrics: Metrics | None = None, keep: int = 8640,
                 clock: Callable[[], float] = time.time) -> None:
        if not interval > 0:
            raise InvalidParameterError(
                "interval", f"'interval' must be > 0 seconds (got interval={interval!r})")
        self.interval = float(interval)
        self.metrics = metrics
        self.clock = clock
        self._samples: deque[SystemSample] = deque(maxlen=keep)
        self._process = psutil.Process()
        self._primed = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def prime(self) -> None:
        """Make the next ``cpu_percent`` readings meaningful (the first call only starts the measurement)."""
        psutil.cpu_percent(interval=None)
        self._process.cpu_percent(interval=None)
        self._primed = True

    def sample_once(self) -> SystemSample:
        """Take, keep and send one sample (priming first, with a 0.1 s measuring gap, if never primed)."""
        if not self._primed:
            self.prime()
            time.sleep(0.1)
        mem = psutil.virtual_memory()
        sample = SystemSample(
            at=self.clock(),
            system_cpu_percent=float(psutil.cpu_percent(interval=None)),
            system_memory_percent=float(mem.percent),
            process_cpu_percent=float(self._process.cpu_percent(interval=None)),
            process_rss_bytes=int(self._process.memory_info().rss),
        )
        self._samples.append(sample)
        if self.metrics is not None:
            self.metrics.gauge("system.cpu_percent", sample.system_cpu_percent)
            self.metrics.gauge("system.memory_percent", sample.system_memory_percent)
            self.metrics.gauge("process.cpu_percent", sample.process_cpu_percent)
            self.metrics.gauge("process.rss_bytes", sample.process_rss_bytes)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample_once()
            except Exception:  # noqa: BLE001 - a failed sample must not kill the sampler
                _log.exception("system sample failed")

    def start(self) -> bool:
        """Start sampling; ``False`` (and nothing else happens) when already running."""
        with self._lock:
            if self.running:
                return False
            self.prime()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="ai-calculator-sampler", daemon=True)
            self._thread.start()
            return True

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop and join the thread; ``False`` when it was not running."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return False
            self._stop.set()
            thread.join(timeout)
            self._thread = None
            return True

    def samples(self, since: float = float("-inf")) -> list[SystemSample]:
        """Kept samples taken at or after ``since``."""
        return [s for s in list(self._samples) if s.at >= since]

    @property
    def latest(self) -> SystemSample | None:
        return self._samples[-1] if self._samples else None
