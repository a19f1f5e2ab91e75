"""The seed's monitor object: sampler start/stop, timing context managers, slow-query log, kept timings."""

from __future__ import annotations

import logging
import socket
import threading
import time

import psutil
import pytest

from analytics.errors import InvalidParameterError
from analytics.performance import (
    Metrics,
    PerformanceMonitor,
    SystemSampler,
    TimingRecord,
    TimingStore,
    ai_calculator_performance,
)


@pytest.fixture
def udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    yield sock
    sock.close()


def _recv(sock, n):
    return [sock.recv(65535).decode() for _ in range(n)]


class FakeClock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_singleton_is_a_monitor():
    assert isinstance(ai_calculator_performance, PerformanceMonitor)


def test_track_database_query_sends_keeps_and_logs_slow(udp, caplog):
    clock = FakeClock()
    mon = PerformanceMonitor(Metrics("127.0.0.1", udp.getsockname()[1]), slow_query_ms=5, clock=clock)
    with mon.track_database_query("get_user_data"):
        pass
    fast = _recv(udp, 1)[0]
    assert fast.startswith("ai_calculator.db.query_time.get_user_data:") and fast.endswith("|ms")
    with caplog.at_level(logging.WARNING, logger="analytics.performance.slow_queries"):
        with mon.track_database_query("report.weekly"):
            time.sleep(0.02)
    slow, counter = _recv(udp, 2)
    assert slow.startswith("ai_calculator.db.query_time.report_weekly:")
    assert float(slow.split(":")[1].split("|")[0]) >= 20
    assert counter == "ai_calculator.db.slow_queries.report_weekly:1|c"
    assert len(caplog.records) == 1 and caplog.records[0].getMessage().startswith("slow query report.weekly took ")
    kept = mon.timings.select("db_query", 0)
    assert [(r.name, r.at, r.ok) for r in kept] == [("get_user_data", clock.t, True), ("report.weekly", clock.t, True)]


def test_track_times_failing_blocks_and_reraises(udp):
    mon = PerformanceMonitor(Metrics("127.0.0.1", udp.getsockname()[1]))
    with pytest.raises(KeyError):
        with mon.track_calculator_load_time():
            raise KeyError("x")
    assert _recv(udp, 1)[0].startswith("ai_calculator.load_time:")
    assert [r.ok for r in mon.timings.select("calculator_load", 0)] == [False]


def test_track_database_query_rejects_bad_name():
    mon = PerformanceMonitor(Metrics("127.0.0.1", 9))
    with pytest.raises(InvalidParameterError) as exc:
        with mon.track_database_query(""):
            pass
    assert str(exc.value) == "'name' must be a non-empty string (got name='')"


def test_record_api_request(udp):
    mon = PerformanceMonitor(Metrics("127.0.0.1", udp.getsockname()[1]), clock=FakeClock(5.0))
    mon.record_api_request("/api/analytics/event", "post", 502, 7.25)
    assert _recv(udp, 2) == ["ai_calculator.api.response_time.api_analytics_event.POST:7.250000|ms",
                             "ai_calculator.api.requests.api_analytics_event.POST.502:1|c"]
    assert mon.timings.select("api", 0) == [TimingRecord(5.0, "api", "POST /api/analytics/event", 7.25, False)]


def test_start_stop_monitoring_never_two(udp):
    mon = PerformanceMonitor(Metrics("127.0.0.1", udp.getsockname()[1]))
    def samplers() -> list[threading.Thread]:  # by name: other tests' daemon threads may end meanwhile
        return [t for t in threading.enumerate() if t.name == "ai-calculator-sampler"]

    before = samplers()
    assert mon.start_monitoring(interval=0.05) is True
    assert mon.start_monitoring(interval=0.05) is False
    assert mon.is_monitoring and len(samplers()) == len(before) + 1
    lines = _recv(udp, 4)
    assert [line.split(":")[0] for line in lines] == [
        "ai_calculator.system.cpu_percent", "ai_calculator.system.memory_percent",
        "ai_calculator.process.cpu_percent", "ai_calculator.process.rss_bytes"]
    assert all(line.endswith("|g") for line in lines)
    assert mon.stop_monitoring() is True
    assert mon.stop_monitoring() is False
    assert not mon.is_monitoring and samplers() == before
    assert mon.start_monitoring(interval=0.05) is True  # restartable
    assert mon.stop_monitoring() is True


def test_sampler_primes_cpu_percent(monkeypatch):
    calls = []
    real = psutil.cpu_percent

    def spy(interval=None):
        calls.append(interval)
        return real(interval=interval)

    monkeypatch.setattr(psutil, "cpu_percent", spy)
    s = SystemSampler(interval=60)
    assert s.start() is True
    assert calls == [None]  # primed on start; the first sample comes one interval later
    s.stop()
    sample = s.sample_once()
    assert calls == [None, None]
    assert 0 <= sample.system_cpu_percent <= 100 and 0 < sample.system_memory_percent < 100
    assert sample.process_rss_bytes > 0 and s.latest is sample


def test_sampler_bad_interval():
    with pytest.raises(InvalidParameterError) as exc:
        SystemSampler(interval=0)
    assert str(exc.value) == "'interval' must be > 0 seconds (got interval=0)"


def test_timing_store_is_bounded():
    store = TimingStore(maxlen=3)
    for i in range(5):
        store.add(TimingRecord(float(i), "db_query", "q", 1.0))
    assert len(store) == 3 and store.dropped == 2
    assert [r.at for r in store.select("db_query", 3.0)] == [3.0, 4.0]
    assert store.select("api", 0) == []
