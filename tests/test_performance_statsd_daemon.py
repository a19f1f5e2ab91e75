"""Integration: metrics sent to Etsy's statsd daemon (npm ``statsd``, ops/statsd-daemon) and read back from its
management port (``counters``, ``timers``, ``gauges``)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from analytics.performance import Metrics, PerformanceMonitor, emit_event_metrics

DAEMON_DIR = Path(__file__).resolve().parent.parent / "ops" / "statsd-daemon"
STATS_JS = DAEMON_DIR / "node_modules" / "statsd" / "stats.js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the statsd "
                                "daemon integration test needs Node.js (apt-get install nodejs npm)")


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mgmt(port: int, command: str) -> dict:
    """Send one management command and parse node's ``util.inspect`` output into a dict."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(command.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"END\n\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
    text = buf.decode().rsplit("END", 1)[0].strip()
    text = re.sub(r"'((?:[^'\\]|\\.)*)'", r'"\1"', text)
    text = re.sub(r"([{,]\s*)([A-Za-z_][\w.]*)\s*:", r'\1"\2":', text)
    return json.loads(text)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    if not STATS_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, cannot install ops/statsd-daemon")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=DAEMON_DIR, check=True,
                       capture_output=True, timeout=300)
    udp_port, mgmt_port = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_STREAM)
    config = tmp_path_factory.mktemp("statsd") / "config.js"
    config.write_text(json.dumps({"port": udp_port, "address": "127.0.0.1", "mgmt_port": mgmt_port,
                                  "mgmt_address": "127.0.0.1", "backends": [], "flushInterval": 600000}))
    proc = subprocess.Popen(["node", str(STATS_JS), str(config)], cwd=DAEMON_DIR, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            _mgmt(mgmt_port, "counters")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"statsd daemon did not start: {proc.stdout.read().decode()}") from None
            time.sleep(0.1)
    yield udp_port, mgmt_port
    proc.terminate()
    proc.wait(timeout=10)


def _wait_for(mgmt_port: int, command: str, key: str, expected, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = _mgmt(mgmt_port, command).get(key)
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_daemon_aggregates_what_the_code_sends(daemon):
    udp_port, mgmt_port = daemon
    m = Metrics("127.0.0.1", udp_port)
    for _ in range(3):
        m.incr("ai_calculator.assessment_submitted")
    m.incr("assessment_submitted", 2)
    for ms in (120.0, 80.5, 300.25):
        m.timing("load_time", ms)
    m.gauge("conversion_rate", 0.5)
    m.gauge("conversion_rate", 0.031)
    emit_event_metrics({"event_type": "payment_succeeded",
                        "event_data": {"plan": "premium", "amount": 79.99, "processing_time_ms": 640}}, m)
    mon = PerformanceMonitor(m)
    with mon.track_database_query("get_user_data"):
        pass
    assert _wait_for(mgmt_port, "counters", "ai_calculator.assessment_submitted", 5) == 5
    counters = _mgmt(mgmt_port, "counters")
    assert counters["ai_calculator.payments.succeeded.premium"] == 1
    assert counters["ai_calculator.revenue_cents.premium.unknown"] == 7999
    timers = _mgmt(mgmt_port, "timers")
    assert sorted(timers["ai_calculator.load_time"]) == [80.5, 120.0, 300.25]
    assert timers["ai_calculator.payment.processing_time.succeeded"] == [640]
    assert len(timers["ai_calculator.db.query_time.get_user_data"]) == 1
    gauges = _wait_for(mgmt_port, "gauges", "ai_calculator.conversion_rate", 0.031)
    assert gauges == 0.031
    assert _mgmt(mgmt_port, "counters")["statsd.bad_lines_seen"] == 0
    m.close()
