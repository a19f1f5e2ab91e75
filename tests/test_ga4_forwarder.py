"""GA4 Measurement Protocol forwarding, against a local HTTP receiver that checks GA4's payload rules."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from analytics.events import validate_event
from ingest_service.ga4 import GA4Forwarder, build_payloads, ga4_params

NOW = datetime(2026, 3, 1, 12, 0, 0)
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def _violations(query: dict[str, list[str]], headers, raw: bytes) -> list[str]:
    """The Measurement Protocol's documented limits, checked independently of the code under test."""
    problems = []
    if query.get("measurement_id") != ["G-TEST123"] or query.get("api_secret") != ["s3cret"]:
        problems.append(f"query {query}")
    if headers.get("Content-Type") != "application/json":
        problems.append("content type")
    if len(raw) >= 130_000:
        problems.append("body too large")
    body = json.loads(raw)
    if not isinstance(body.get("client_id"), str) or not body["client_id"]:
        problems.append("client_id")
    events = body.get("events", [])
    if not 1 <= len(events) <= 25:
        problems.append(f"{len(events)} events")
    for ev in events:
        if not NAME.match(ev["name"]) or ev["name"].startswith(("ga_", "google_", "firebase_")):
            problems.append(f"event name {ev['name']}")
        params = ev.get("params", {})
        if len(params) > 25:
            problems.append(f"{len(params)} params")
        for k, v in params.items():
            if not NAME.match(k):
                problems.append(f"param name {k}")
            if isinstance(v, str) and len(v) > 100:
                problems.append(f"param {k} has {len(v)} characters")
            if isinstance(v, dict | list):
                problems.append(f"param {k} not scalar")
    return problems


class Receiver:
    """Records each POST; answers with the next scripted status (default 204, like GA4)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.violations: list[str] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                receiver.violations += _violations(query, self.headers, raw)
                receiver.requests.append({"path": parts.path, "body": json.loads(raw)})
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/mp/collect"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _event(event_type: str, data: dict, session: str = "s-1", second: int = 0, user: str | None = None):
    raw = {"event_type": event_type, "session_id": session, "event_data": data, "event_id": f"{session}-{second}",
           "timestamp": f"2026-03-01T11:00:{second:02d}Z"}
    if user:
        raw["user_id"] = user
    return validate_event(raw, now=NOW)


def _walk(session: str, n_steps: int = 3) -> list:
    events = [_event("ai_calculator_opened", {"source": "google", "medium": "cpc", "campaign": "x"}, session, 0)]
    events += [_event("calculator_step_completed", {"step": 1 + (i - 1) % 20, "seconds_on_step": 2.5}, session, i) for i in
               range(1, n_steps + 1)]
    events.append(_event("step_load_timing", {"step": 1, "load_time_ms": 12.0}, session, 40))
    events.append(_event("paid_upgrade_clicked", {"plan": "premium", "price": 79.99}, session, 50))
    return events


def _forwarder(receiver: Receiver, **kwargs) -> GA4Forwarder:
    kwargs.setdefault("sleep", lambda s: None)
    return GA4Forwarder("G-TEST123", "s3cret", endpoint=receiver.url, **kwargs)


def test_params_follow_ga4_rules_and_carry_revenue():
    e = _event("paid_upgrade_clicked", {"plan": "premium", "price": 79.99, "campaign": "c" * 150, "test_id": "t",
                                        "bad-name": 1, "ga_reserved": 2, "nested": {"a": 1}})
    assert ga4_params(e) == {
        "plan": "premium", "price": 79.99, "campaign": "c" * 100, "test_id": "t",
        "value": 79.99, "currency": "USD", "event_id": "s-1-0", "engagement_time_msec": 1,
    }


def test_params_are_cut_to_25_keeping_the_event_fields_first():
    data = {"plan": "basic", "price": 49.99} | {f"extra_{i:02d}": i for i in range(40)}
    params = ga4_params(_event("paid_upgrade_clicked", data))
    assert len(params) == 25
    assert list(params)[:5] == ["plan", "price", "value", "currency", "engagement_time_msec"]
    assert "extra_00" in params and "extra_39" not in params


def test_payloads_one_client_per_request_at_most_25_events_only_seed_events():
    events = _walk("s-a", 20) + _walk("s-b", 2) + [_event("assessment_submitted", {
        "job_title": "Nurse", "industry": "Healthcare", "risk_level": "low"}, "s-c", user="u-9", second=7)]
    payloads = build_payloads(events)
    assert [(p["client_id"], len(p["events"])) for p in payloads] == [("s-a", 22), ("s-b", 4), ("s-c", 1)]
    assert payloads[2]["user_id"] == "u-9" and "user_id" not in payloads[0]
    assert [e["name"] for e in payloads[1]["events"]] == [
        "ai_calculator_opened", "calculator_step_completed", "calculator_step_completed", "paid_upgrade_clicked"]
    assert payloads[1]["events"][0]["timestamp_micros"] == 1772362800000000  # 2026-03-01T11:00:00Z
    many = [_event("calculator_step_completed", {"step": 1 + i % 20, "seconds_on_step": 1}, "s-z", second=i % 60)
            for i in range(60)]
    assert [len(p["events"]) for p in build_payloads(many)] == [25, 25, 10]


def test_forwarder_sends_valid_requests(receiver):
    fwd = _forwarder(receiver).start()
    queued = fwd.submit(_walk("s-a", 30 - 2) + _walk("s-b"))
    assert queued == 30 + 5
    assert fwd.flush(10)
    fwd.close()
    assert receiver.violations == []
    assert [(r["body"]["client_id"], len(r["body"]["events"])) for r in receiver.requests] == [
        ("s-a", 25), ("s-a", 5), ("s-b", 5)]
    assert {r["path"] for r in receiver.requests} == {"/mp/collect"}
    assert fwd.stats.sent == 35 and fwd.stats.dropped == 0


def test_forwarder_retries_5xx_and_429_but_not_4xx(receiver):
    fwd = _forwarder(receiver, max_retries=3)
    receiver.statuses = [503, 429, 204]
    fwd.submit(_walk("s-a", 1))
    assert fwd.flush(10)
    assert len(receiver.requests) == 3 and fwd.stats.sent == 3 and fwd.stats.failed_requests == 2
    receiver.statuses = [400]
    fwd.submit(_walk("s-b", 1))
    assert fwd.flush(10)
    fwd.close()
    assert len(receiver.requests) == 4
    assert fwd.stats.dropped == 3


def test_forwarder_gives_up_when_unreachable():
    waits: list[float] = []
    fwd = GA4Forwarder("G-TEST123", "s3cret", endpoint="http://127.0.0.1:9/mp/collect", max_retries=2,
                       backoff=0.5, sleep=waits.append, timeout=1)
    fwd.submit(_walk("s-a", 1))
    assert fwd.flush(10)
    fwd.close()
    assert waits == [0.5, 1.0]
    assert fwd.stats.dropped == 3 and fwd.stats.sent == 0 and fwd.stats.requests == 3


def test_full_queue_drops_and_counts():
    fwd = GA4Forwarder("G-TEST123", "s3cret", endpoint="http://127.0.0.1:9/mp/collect", queue_size=2)
    fwd._thread = threading.Thread(target=lambda: None)  # a thread that is not consuming
    fwd._thread.start()
    fwd._thread.join()
    fwd.start = lambda: fwd  # keep submit from starting the real consumer
    assert fwd.submit(_walk("s-a", 3)) == 2
    assert fwd.stats.dropped == 3


def test_from_env_needs_both_variables(receiver):
    assert GA4Forwarder.from_env({}) is None
    assert GA4Forwarder.from_env({"GA4_MEASUREMENT_ID": "G-TEST123"}) is None
    assert GA4Forwarder.from_env({"GA4_MEASUREMENT_ID": "G-TEST123", "GA4_API_SECRET": " "}) is None
    fwd = GA4Forwarder.from_env({"GA4_MEASUREMENT_ID": "G-TEST123", "GA4_API_SECRET": "s3cret",
                                 "GA4_MP_ENDPOINT": receiver.url})
    assert fwd is not None
    fwd.submit(_walk("s-a", 1))
    assert fwd.flush(10)
    fwd.close()
    assert receiver.violations == [] and len(receiver.requests) == 1


@pytest.mark.slow
def test_sidecar_forwards_stored_seed_events(receiver, tmp_path):
    from analytics.db import upgrade
    from ingest_service.testing import Server

    url = f"sqlite:///{tmp_path / 'fwd.db'}"
    upgrade(url)
    env = {"GA4_MEASUREMENT_ID": "G-TEST123", "GA4_API_SECRET": "s3cret", "GA4_MP_ENDPOINT": receiver.url}
    now = datetime.now().astimezone().isoformat()
    batch = [
        {"event_type": "ai_calculator_opened", "session_id": "s-web", "event_id": "e1", "timestamp": now,
         "event_data": {"source": "google"}},
        {"event_type": "page_load_timing", "session_id": "s-web", "event_id": "e2", "timestamp": now,
         "event_data": {"load_time_ms": 120}},
        {"event_type": "paid_upgrade_clicked", "session_id": "s-web", "event_id": "e3", "timestamp": now,
         "event_data": {"plan": "pro", "price": 99.99}},
    ]
    with Server(url, env=env) as server:
        assert server.request("POST", "/api/analytics/event", {"batch": batch}).json()["accepted"] == 3
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    assert receiver.violations == []
    assert [(r["body"]["client_id"], [e["name"] for e in r["body"]["events"]]) for r in receiver.requests] == [
        ("s-web", ["ai_calculator_opened", "paid_upgrade_clicked"])]
    assert receiver.requests[0]["body"]["events"][1]["params"]["value"] == 99.99
