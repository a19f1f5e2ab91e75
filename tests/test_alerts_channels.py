"""Alert channels against real local receivers: an HTTP server validating Slack and PagerDuty Events v2
payloads, aiosmtpd for email; retries, timeouts, parallel sending, and the alert_log record."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from analytics.alerts import (
    AlertConfig,
    AlertRule,
    AlertRunner,
    Dispatcher,
    EmailChannel,
    Notification,
    Observation,
    PagerDutyChannel,
    SlackChannel,
    channels_from_env,
    read_alert_log,
)

AT = datetime(2026, 3, 1, 12, 0, 0)
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, like a real integration key
RULE = AlertRule("load_slow", "calculator_load_p95_ms", 3000, 2500, for_seconds=0, severity="critical",
                 channels=("slack", "pagerduty", "email"), description="Calculator p95 load above 3 s")


def _slack_errors(body) -> list[str]:
    """Shape rules of a Slack incoming-webhook message (text required; attachments as legacy fields)."""
    errors = []
    if not isinstance(body.get("text"), str) or not body["text"]:
        errors.append("text must be a non-empty string")
    for a in body.get("attachments", []):
        if not isinstance(a, dict) or not isinstance(a.get("fields", []), list):
            errors.append("attachment must be an object with a fields list")
        elif not all({"title", "value", "short"} <= set(f) for f in a.get("fields", [])):
            errors.append("attachment fields need title, value, short")
        elif "color" in a and not str(a["color"]).startswith("#"):
            errors.append("color must be a hex colour")
    return errors


def _pagerduty_errors(body) -> list[str]:
    """PagerDuty Events API v2 (``/v2/enqueue``) request rules."""
    errors = []
    if not isinstance(body.get("routing_key"), str) or len(body["routing_key"]) != 32:
        errors.append("routing_key must be a 32 character string")
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("event_action must be trigger, acknowledge or resolve")
    if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
        errors.append("dedup_key is required for acknowledge and resolve")
    if len(body.get("dedup_key") or "") > 255:
        errors.append("dedup_key must be at most 255 characters")
    if action == "trigger":
        p = body.get("payload") or {}
        if not isinstance(p.get("summary"), str) or not 0 < len(p["summary"]) <= 1024:
            errors.append("payload.summary must be 1-1024 characters")
        if not isinstance(p.get("source"), str) or not p["source"]:
            errors.append("payload.source is required")
        if p.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("payload.severity must be critical, error, warning or info")
        if "timestamp" in p:
            datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00"))
    return errors


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that timed out leaves a broken pipe behind; expected in the timeout test


class Receiver:
    """Records requests; ``script`` is a list of (status, delay_s, headers) answers used before the default."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, str, dict]] = []
        self.script: dict[str, list[tuple[int, float, dict]]] = {"/slack": [], "/pd": []}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                with receiver.lock:
                    receiver.requests.append((time.monotonic(), self.path, body))
                    answer = receiver.script[self.path].pop(0) if receiver.script[self.path] else None
                if answer is not None:
                    status, delay, headers = answer
                    time.sleep(delay)
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(b"server error")
                    return
                if self.path == "/slack":
                    errors = _slack_errors(body)
                    status, out = (400, b"invalid_payload") if errors else (200, b"ok")
                else:
                    errors = _pagerduty_errors(body)
                    status = 400 if errors else 202
                    out = json.dumps({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": errors} if errors else
                                     {"status": "success", "message": "Event processed",
                                      "dedup_key": body.get("dedup_key")}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def bodies(self, path: str) -> list[dict]:
        return [b for _, p, b in self.requests if p == path]


@pytest.fixture
def http():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    yield box
    controller.stop()


def _channels(http, smtp=None, timeout=5.0):
    out = {"slack": SlackChannel(http.base + "/slack", timeout=timeout),
           "pagerduty": PagerDutyChannel(ROUTING_KEY, url=http.base + "/pd", timeout=timeout, source="web-1")}
    if smtp is not None:
        out["email"] = EmailChannel("127.0.0.1", smtp.port, "alerts@example.com", ["ops@example.com",
                                                                                    "cto@example.com"])
    return out


def _note(kind="firing", value=3500.0, rule=RULE):
    return Notification(rule, kind, value, AT, AT - timedelta(minutes=5))


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_slack_pagerduty_email_firing_and_resolved(http, smtp):
    d = Dispatcher(_channels(http, smtp))
    out = d.dispatch([_note()])
    assert [(x.channel, x.ok, x.attempts, x.error) for x in out] == [
        ("slack", True, 1, None), ("pagerduty", True, 1, None), ("email", True, 1, None)]
    slack = http.bodies("/slack")[0]
    assert slack["text"] == "[CRITICAL] load_slow: Calculator p95 load above 3 s — 3500 > 3000"
    assert slack["attachments"][0]["color"] == "#d00000"
    assert slack["attachments"][0]["ts"] == 1772366400  # 2026-03-01T12:00:00Z
    assert {f["title"]: f["value"] for f in slack["attachments"][0]["fields"]} == {
        "Severity": "critical", "Value": "3500", "Threshold": "3000", "Recovery": "2500",
        "Firing since": "2026-03-01T11:55:00Z"}
    pd = http.bodies("/pd")[0]
    assert pd["event_action"] == "trigger" and pd["dedup_key"] == "ai-calculator/load_slow"
    assert pd["payload"]["severity"] == "critical" and pd["payload"]["source"] == "web-1"
    assert pd["payload"]["timestamp"] == "2026-03-01T12:00:00Z"
    assert pd["payload"]["custom_details"]["value"] == 3500.0
    sender, rcpts, content = smtp.messages[0]
    msg = message_from_bytes(content, policy=policy.default)
    assert (sender, rcpts) == ("alerts@example.com", ["ops@example.com", "cto@example.com"])
    assert msg["Subject"] == "[CRITICAL] load_slow: Calculator p95 load above 3 s — 3500 > 3000"
    assert "Threshold: 3000" in msg.get_content()

    d.dispatch([_note("resolved", 2400.0)])
    assert http.bodies("/pd")[1] == {"routing_key": ROUTING_KEY, "event_action": "resolve",
                                     "dedup_key": "ai-calculator/load_slow"}
    assert http.bodies("/slack")[1]["attachments"][0]["color"] == "#2eb886"
    assert http.bodies("/slack")[1]["text"].startswith("[RESOLVED] load_slow:")
    assert message_from_bytes(smtp.messages[1][2], policy=policy.default)["Subject"].startswith("[RESOLVED] load_slow:")


def test_5xx_is_retried_with_exponential_backoff(http):
    http.script["/slack"] = [(500, 0, {}), (503, 0, {})]
    sleeps = Sleeps()
    d = Dispatcher(_channels(http), sleep=sleeps, max_attempts=3, base_delay=0.5, factor=2)
    rule = AlertRule("r", "cpu_percent", 70, channels=("slack",))
    (out,) = d.dispatch([_note(rule=rule)])
    assert (out.ok, out.attempts, out.error) == (True, 3, None)
    assert sleeps == [0.5, 1.0]
    assert len(http.bodies("/slack")) == 3


def test_retries_give_up_and_report_last_error(http):
    http.script["/slack"] = [(500, 0, {})] * 3
    sleeps = Sleeps()
    d = Dispatcher(_channels(http), sleep=sleeps, max_attempts=3)
    (out,) = d.dispatch([_note(rule=AlertRule("r", "cpu_percent", 70, channels=("slack",)))])
    assert (out.ok, out.attempts, out.error) == (False, 3, "slack: HTTP 500 server error")
    assert sleeps == [0.5, 1.0]


def test_429_honours_retry_after_and_400_is_not_retried(http):
    http.script["/slack"] = [(429, 0, {"Retry-After": "2"})]
    sleeps = Sleeps()
    d = Dispatcher(_channels(http), sleep=sleeps)
    rule = AlertRule("r", "cpu_percent", 70, channels=("slack", "pagerduty"))
    bad = PagerDutyChannel("short-key", url=http.base + "/pd")
    d.channels["pagerduty"] = bad
    slack, pd = d.dispatch([_note(rule=rule)])
    assert (slack.ok, slack.attempts) == (True, 2) and sleeps == [2.0]
    assert (pd.ok, pd.attempts) == (False, 1)
    assert pd.error.startswith("pagerduty: HTTP 400 ") and "routing_key must be a 32 character string" in pd.error


def test_a_hanging_channel_does_not_block_the_others(http):
    http.script["/slack"] = [(200, 1.5, {})] * 2  # hangs past the 0.3 s timeout, twice
    d = Dispatcher(_channels(http, timeout=0.3), sleep=lambda s: None, max_attempts=2)
    rule = AlertRule("r", "cpu_percent", 70, channels=("slack", "pagerduty"))
    start = time.monotonic()
    slack, pd = d.dispatch([_note(rule=rule)])
    pd_at = [t for t, p, _ in http.requests if p == "/pd"][0]
    assert pd.ok and pd_at - start < 0.25
    assert not slack.ok and slack.attempts == 2 and slack.error.startswith("slack: timed out after 0.3 s")


def test_connection_refused_is_retryable_and_unconfigured_channel_recorded():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    sleeps = Sleeps()
    d = Dispatcher({"slack": SlackChannel(f"http://127.0.0.1:{dead}/x", timeout=1)}, sleep=sleeps)
    rule = AlertRule("r", "cpu_percent", 70, channels=("slack", "email"))
    slack, email = d.dispatch([_note(rule=rule)])
    assert not slack.ok and slack.attempts == 3 and slack.error.startswith("slack: cannot connect")
    assert (email.ok, email.attempts, email.error) == (False, 0, "channel 'email' is not configured")


def test_deliveries_are_recorded_in_alert_log(engine, http):
    d = Dispatcher(_channels(http), engine=engine, clock=lambda: AT)
    rule = AlertRule("r", "cpu_percent", 70, channels=("slack", "pagerduty", "email"))
    d.dispatch([_note(rule=rule, value=75.0)])
    log = read_alert_log(engine, AT - timedelta(minutes=1), AT + timedelta(minutes=1))
    assert log[["rule", "state", "channel", "ok", "kind", "attempts"]].values.tolist() == [
        ["r", "firing", "slack", True, "firing", 1], ["r", "firing", "pagerduty", True, "firing", 1],
        ["r", "firing", "email", False, "firing", 0]]
    assert log["value"].tolist() == [75.0, 75.0, 75.0]
    assert str(log["sent_at"].dt.tz) == "UTC"
    assert log["error"].tolist()[2] == "channel 'email' is not configured"


def test_runner_end_to_end_firing_repeat_resolved(http, engine):
    now = [AT]
    value = [Observation(7000.0, 10)]
    rule = AlertRule("load_critical", "calculator_load_p95_ms", 6000, 5000, for_seconds=60, severity="critical",
                     channels=("slack", "pagerduty"), repeat_seconds=600)
    runner = AlertRunner(AlertConfig((rule,), (), 3600), lambda m, w, t: value[0],
                         Dispatcher(_channels(http), engine=engine, clock=lambda: now[0]), clock=lambda: now[0])
    assert runner.evaluate_once() == []
    for minutes, obs in ((1, 7000.0), (5, 7100.0), (11, 6500.0), (12, 4000.0), (13, 4000.0)):
        now[0] = AT + timedelta(minutes=minutes)
        value[0] = Observation(obs, 10)
        runner.evaluate_once()
    assert [b["event_action"] for b in http.bodies("/pd")] == ["trigger", "trigger", "resolve"]
    assert len({b["dedup_key"] for b in http.bodies("/pd")}) == 1
    log = read_alert_log(engine, AT, AT + timedelta(hours=1))
    assert log[log.channel == "slack"]["kind"].tolist() == ["firing", "repeat", "resolved"]


def test_channels_from_env():
    env = {"ALERT_WEBHOOK_URL": "http://127.0.0.1:1/s", "PAGERDUTY_API_KEY": ROUTING_KEY,
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "2525", "ALERT_EMAIL_TO": "a@x.com, b@x.com"}
    ch = channels_from_env(env)
    assert sorted(ch) == ["email", "pagerduty", "slack"]
    assert ch["pagerduty"].url == "https://events.pagerduty.com/v2/enqueue"
    assert ch["email"].recipients == ["a@x.com", "b@x.com"] and ch["email"].port == 2525
    assert channels_from_env({}) == {}
