"""The alert loop in its thread, and CPU/memory observations from the monitor's sampler."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from analytics.alerts import AlertConfig, AlertRule, AlertRunner, Dispatcher, Observation, ObservationSource
from analytics.errors import InvalidParameterError
from analytics.performance import Metrics, PerformanceMonitor, SystemSample

EPOCH = datetime(1970, 1, 1)


class _Recorder:
    name = "slack"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def payload(self, n):
        return {"text": n.summary}

    def send(self, n):
        self.sent.append(n.kind)
        return self.payload(n)


def test_runner_thread_starts_once_and_stops():
    rec = _Recorder()
    rule = AlertRule("mem", "memory_percent", 80, for_seconds=0, channels=("slack",))
    runner = AlertRunner(AlertConfig((rule,), (), 3600), lambda m, w, t: Observation(95.0, 1),
                         Dispatcher({"slack": rec}))
    before = set(threading.enumerate())
    assert runner.start(interval=0.02) is True
    assert runner.start(interval=0.02) is False
    started = [t for t in threading.enumerate() if t not in before and t.name == "alert-runner"]
    assert len(started) == 1  # one runner thread, however often start() is called
    deadline = time.monotonic() + 5
    while not rec.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.stop() is True and runner.stop() is False
    assert rec.sent == ["firing"]  # repeat interval 1 h: sent once however often it evaluates
    # its own thread is gone (other tests' daemon threads may come and go meanwhile: no global count)
    assert not started[0].is_alive()
    with pytest.raises(InvalidParameterError) as exc:
        runner.start(interval=0)
    assert str(exc.value) == "'interval' must be > 0 seconds (got interval=0)"


def test_cpu_and_memory_are_window_means_of_samples():
    mon = PerformanceMonitor(Metrics("127.0.0.1", 9))
    now = datetime(2026, 3, 1, 12, 0)
    t = (now - EPOCH).total_seconds()
    samples = mon.sampler._samples
    samples.append(SystemSample(t - 400, 99.0, 99.0, 0.0, 1))  # older than the 300 s window
    samples.append(SystemSample(t - 200, 60.0, 70.0, 0.0, 1))
    samples.append(SystemSample(t - 100, 80.0, 90.0, 0.0, 1))
    src = ObservationSource(mon)
    assert src("cpu_percent", 300, now) == Observation(70.0, 2)
    assert src("memory_percent", 300, now) == Observation(80.0, 2)
    assert ObservationSource()("cpu_percent", 300, now) == Observation(None, 0)
    with pytest.raises(InvalidParameterError, match=r"\(got metric='disk'\)$"):
        src("disk", 300, now)
