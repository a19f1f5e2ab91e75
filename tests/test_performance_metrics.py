"""statsd metrics through a real UDP socket: the exact datagrams each call sends."""

from __future__ import annotations

import socket

import pytest

from analytics.errors import ConfigError
from analytics.performance import (
    METRICS,
    Metrics,
    emit_api_request,
    emit_conversion_rate,
    emit_event_metrics,
    metric_component,
)


class _Receiver:
    """A UDP receiver on a loopback port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def recv_all(self, expected: int) -> list[str]:
        """``expected`` datagrams (waiting up to 1 s each), plus any extra one arriving within 50 ms."""
        self.sock.settimeout(1.0)
        out = [self.sock.recv(65535).decode("ascii") for _ in range(expected)]
        self.sock.settimeout(0.05)
        try:
            out.append(self.sock.recv(65535).decode("ascii"))
        except TimeoutError:
            pass
        return out


@pytest.fixture
def udp():
    receiver = _Receiver()
    yield receiver
    receiver.sock.close()


@pytest.fixture
def metrics(udp):
    m = Metrics("127.0.0.1", udp.port)
    yield m
    m.close()


def test_seed_calls_send_exact_datagrams(udp, metrics):
    metrics.incr("ai_calculator.assessment_submitted")
    metrics.incr("assessment_submitted", 3)
    metrics.timing("ai_calculator.load_time", 1234.5)
    metrics.gauge("ai_calculator.conversion_rate", 0.042)
    assert udp.recv_all(4) == [
        "ai_calculator.assessment_submitted:1|c",
        "ai_calculator.assessment_submitted:3|c",
        "ai_calculator.load_time:1234.500000|ms",
        "ai_calculator.conversion_rate:0.042|g",
    ]


def test_from_env_reads_host_and_port(udp):
    m = Metrics.from_env({"STATSD_HOST": "127.0.0.1", "STATSD_PORT": str(udp.port)})
    m.incr("x")
    assert udp.recv_all(1) == ["ai_calculator.x:1|c"]
    assert (m.host, m.port) == ("127.0.0.1", udp.port)
    m.close()


def test_from_env_defaults_and_bad_port():
    m = Metrics.from_env({})
    assert (m.host, m.port, m.prefix) == ("localhost", 8125, "ai_calculator")
    m.close()
    with pytest.raises(ConfigError) as exc:
        Metrics.from_env({"STATSD_PORT": "eighty"})
    assert str(exc.value) == "STATSD_PORT must be an integer in 1-65535 (got 'eighty')"
    with pytest.raises(ConfigError, match=r"\(got '70000'\)"):
        Metrics.from_env({"STATSD_PORT": "70000"})


def test_unresolvable_host_drops_silently():
    m = Metrics("no-such-host.invalid", 8125)
    m.incr("x")
    m.timing("y", 1.0)
    m.gauge("z", 2)


def test_metric_component_sanitises():
    assert metric_component("/api/analytics/event") == "api_analytics_event"
    assert metric_component("a.b:c|d@e f") == "a_b_c_d_e_f"
    assert metric_component("") == "unknown"
    assert metric_component(None) == "unknown"
    assert metric_component(3) == "3"
    assert metric_component("x" * 100) == "x" * 64


EVENT_CASES = [
    ({"event_type": "assessment_submitted", "event_data": {"job_title": "x"}},
     ["ai_calculator.assessment_submitted:1|c"]),
    ({"event_type": "page_load_timing", "event_data": {"load_time_ms": 812}},
     ["ai_calculator.page_load_timing:1|c", "ai_calculator.load_time:812.000000|ms"]),
    ({"event_type": "step_load_timing", "event_data": {"step": 2, "load_time_ms": 40.25}},
     ["ai_calculator.step_load_timing:1|c", "ai_calculator.step_load_time.2:40.250000|ms"]),
    ({"event_type": "calculator_step_completed", "event_data": {"step": 3, "seconds_on_step": 4}},
     ["ai_calculator.calculator_step_completed:1|c", "ai_calculator.funnel.step_completed.3:1|c"]),
    ({"event_type": "payment_succeeded",
      "event_data": {"plan": "premium", "amount": 79.99, "processing_time_ms": 950, "source": "google"}},
     ["ai_calculator.payment_succeeded:1|c", "ai_calculator.payments.succeeded.premium:1|c",
      "ai_calculator.payment.processing_time.succeeded:950.000000|ms",
      "ai_calculator.revenue_cents.premium.google:7999|c"]),
    ({"event_type": "payment_failed", "event_data": {"plan": "basic", "amount": 49.99}},
     ["ai_calculator.payment_failed:1|c", "ai_calculator.payments.failed.basic:1|c"]),
    ({"event_type": "subscription_renewed", "event_data": {"plan": "pro", "amount": 99.99, "period": 2}},
     ["ai_calculator.subscription_renewed:1|c", "ai_calculator.revenue_cents.pro.unknown:9999|c"]),
    ({"event_type": "email_opened", "event_data": {"email_type": "weekly report"}},
     ["ai_calculator.email_opened:1|c", "ai_calculator.email.opened.weekly_report:1|c"]),
    ({"event_type": "conversion_offer_viewed", "event_data": {"offer": "o", "test_id": "t1", "variant": "B"}},
     ["ai_calculator.conversion_offer_viewed:1|c", "ai_calculator.ab.exposures.t1.B:1|c"]),
    ({"event_type": "paid_upgrade_clicked", "event_data": {"plan": "basic", "price": 49.99, "test_id": "t1",
                                                          "variant": "A"}},
     ["ai_calculator.paid_upgrade_clicked:1|c", "ai_calculator.ab.conversions.t1.A:1|c"]),
    ({"event_type": "paid_upgrade_clicked", "event_data": {"plan": "basic", "price": 49.99}},
     ["ai_calculator.paid_upgrade_clicked:1|c"]),
    ({"event_type": "page_load_timing", "event_data": {"load_time_ms": "fast"}},
     ["ai_calculator.page_load_timing:1|c"]),
]


@pytest.mark.parametrize(("event", "expected"), EVENT_CASES, ids=[c[0]["event_type"] for c in EVENT_CASES])
def test_emit_event_metrics(udp, metrics, event, expected):
    emit_event_metrics(event, metrics)
    assert udp.recv_all(len(expected)) == expected


def test_emit_event_metrics_accepts_event_objects(udp, metrics):
    from analytics.events import validate_event

    event = validate_event({"event_type": "page_load_timing", "session_id": "s1",
                            "event_data": {"load_time_ms": 100}})
    emit_event_metrics(event, metrics)
    assert udp.recv_all(2) == ["ai_calculator.page_load_timing:1|c", "ai_calculator.load_time:100.000000|ms"]


def test_emit_api_request_and_conversion_rate(udp, metrics):
    emit_api_request("/api/analytics/event", "post", 503, 12.5, metrics)
    emit_conversion_rate(0.25, metrics)
    emit_conversion_rate(1.5, metrics)  # out of [0, 1]: dropped
    emit_conversion_rate(float("nan"), metrics)
    assert udp.recv_all(3) == [
        "ai_calculator.api.response_time.api_analytics_event.POST:12.500000|ms",
        "ai_calculator.api.requests.api_analytics_event.POST.503:1|c",
        "ai_calculator.conversion_rate:0.25|g",
    ]


def test_catalogue_examples_are_valid_statsd_names():
    for spec in METRICS:
        name = spec.example_name()
        assert name.startswith("ai_calculator."), name
        assert all(metric_component(part) == part for part in name.split(".")), name
    assert len({s.template for s in METRICS}) == len(METRICS)


def test_client_labels_take_a_bounded_number_of_values(udp, metrics, monkeypatch):
    from analytics.performance import emit

    monkeypatch.setattr(emit, "_seen", {})
    monkeypatch.setattr(emit, "MAX_LABEL_VALUES", 2)
    for plan in ("basic", "pro", "made-up-1", "made-up-2", "basic"):
        emit_event_metrics({"event_type": "payment_failed", "event_data": {"plan": plan, "amount": 1}}, metrics)
    emit_api_request("/api/analytics/event", "FOO", 405, 1.0, metrics)
    assert udp.recv_all(12) == [
        "ai_calculator.payment_failed:1|c", "ai_calculator.payments.failed.basic:1|c",
        "ai_calculator.payment_failed:1|c", "ai_calculator.payments.failed.pro:1|c",
        "ai_calculator.payment_failed:1|c", "ai_calculator.payments.failed.other:1|c",
        "ai_calculator.payment_failed:1|c", "ai_calculator.payments.failed.other:1|c",
        "ai_calculator.payment_failed:1|c", "ai_calculator.payments.failed.basic:1|c",
        "ai_calculator.api.response_time.api_analytics_event.other:1.000000|ms",
        "ai_calculator.api.requests.api_analytics_event.other.405:1|c",
    ]
    assert emit.MAX_LABEL_VALUES == 2 and len(emit._seen["plan"]) == 2
