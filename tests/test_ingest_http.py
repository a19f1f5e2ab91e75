"""The sidecar over HTTP (gunicorn on a loopback port), on SQLite and PostgreSQL: inputs, batches, dedup, CORS,
API keys, 429, variants, health."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from dbutil import BACKENDS, make_database
from sqlalchemy import func, select

from analytics.db import _build_engine, upgrade
from analytics.schema import ab_assignments, analytics_events, assessments, event_keys
from ingest_service.testing import Server

EVENT = "/api/analytics/event"
ORIGIN = "https://calc.example.com"


def now_iso(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


def opened(event_id: str, session: str = "s1", **extra) -> dict:
    return {"event_type": "ai_calculator_opened", "session_id": session, "event_id": event_id, **extra}


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, tmp_path_factory):
    url, cleanup = make_database(request.param, tmp_path_factory.mktemp("ingest"))
    engine = _build_engine(url)
    upgrade(engine)
    yield url, engine
    engine.dispose()
    cleanup()


@pytest.fixture(scope="module")
def server(db):
    env = {"INGEST_ALLOWED_ORIGINS": f"{ORIGIN},https://other.example.com", "INGEST_RATE_LIMIT": "0",
           "INGEST_MAX_BATCH": "50", "INGEST_MAX_BODY_BYTES": "20000", "INGEST_MAX_DECOMPRESSED_BYTES": "40000"}
    with Server(db[0], env) as srv:
        yield srv


def stored(engine, event_id: str) -> list:
    with engine.connect() as conn:
        return conn.execute(select(analytics_events).where(analytics_events.c.event_id == event_id)).all()


def count(engine, table, **where) -> int:
    q = select(func.count()).select_from(table)
    for key, value in where.items():
        q = q.where(table.c[key] == value)
    with engine.connect() as conn:
        return conn.execute(q).scalar_one()


# --- accepted, partial batches, duplicates ---------------------------------------------------------------------
def test_single_event_is_stored_with_received_time(server, db):
    before = datetime.now(UTC).replace(tzinfo=None)
    r = server.request("POST", EVENT, opened("single-1", event_data={"country": "de", "source": "google"}))
    assert (r.status, r.json()) == (200, {"accepted": 1, "duplicates": 0, "rejected": []})
    rows = stored(db[1], "single-1")
    assert len(rows) == 1
    row = rows[0]
    assert (row.event_type, row.session_id, row.country, row.source) == ("ai_calculator_opened", "s1", "DE", "google")
    assert before - timedelta(seconds=1) <= row.received_at <= datetime.now(UTC).replace(tzinfo=None)


def test_batch_partial_acceptance_reports_each_rejection(server, db):
    batch = [
        opened("batch-ok-1"),
        {"event_type": "nope", "session_id": "s1", "event_id": "batch-bad-1"},
        {"event_type": "payment_succeeded", "session_id": "s2", "event_id": "batch-ok-2",
         "event_data": {"plan": "pro", "amount": 99.99}},
        {"event_type": "payment_succeeded", "event_id": "batch-bad-2", "event_data": {"plan": "pro", "amount": -1}},
        {"event_type": "assessment_submitted", "session_id": "s3", "event_id": "batch-ok-3",
         "event_data": {"job_title": "Accountant", "industry": "Finance", "risk_level": "high", "risk_score": 81}},
        "not an object",
    ]
    r = server.request("POST", EVENT, {"batch": batch})
    assert r.status == 200
    assert r.json() == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": [
            {"index": 1, "field": "event_type", "code": "unknown_event_type",
             "message": "'event_type' 'nope' is not a known event type"},
            {"index": 3, "field": "session_id", "code": "required", "message": "'session_id' is required"},
            {"index": 3, "field": "event_data.amount", "code": "out_of_range",
             "message": "'event_data.amount' must be >= 0 (got -1)"},
            {"index": 5, "field": "", "code": "type", "message": "an event must be a JSON object (got str)"},
        ],
    }
    assert [len(stored(db[1], e)) for e in ("batch-ok-1", "batch-ok-2", "batch-ok-3", "batch-bad-1", "batch-bad-2")] \
        == [1, 1, 1, 0, 0]
    assert count(db[1], assessments, event_id="batch-ok-3") == 1


def test_all_invalid_is_400_with_the_same_body(server):
    r = server.request("POST", EVENT, {"event_type": "ai_calculator_opened"})
    assert r.status == 400
    assert r.json() == {"accepted": 0, "duplicates": 0,
                        "rejected": [{"index": 0, "field": "session_id", "code": "required",
                                      "message": "'session_id' is required"}]}


def test_repeated_event_id_is_a_duplicate_stored_once(server, db):
    r1 = server.request("POST", EVENT, opened("dup-1"))
    r2 = server.request("POST", EVENT, {"batch": [opened("dup-1"), opened("dup-2"), opened("dup-2")]})
    assert r1.json()["accepted"] == 1
    assert r2.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
    assert len(stored(db[1], "dup-1")) == 1 and len(stored(db[1], "dup-2")) == 1
    assert count(db[1], event_keys, event_id="dup-2") == 1


def test_text_plain_and_gzip_bodies(server, db):
    r = server.request("POST", EVENT, json.dumps(opened("beacon-1")), {"Content-Type": "text/plain;charset=UTF-8"})
    assert r.json()["accepted"] == 1
    body = gzip.compress(json.dumps({"batch": [opened("gz-1"), opened("gz-2")]}).encode())
    r = server.request("POST", EVENT, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert (r.status, r.json()["accepted"]) == (200, 2)
    assert len(stored(db[1], "gz-2")) == 1
    # a body of two gzip members (RFC 1952 2.2; `cat a.gz b.gz`), zero-padded: both members are the body
    text = json.dumps({"batch": [opened("gzm-1"), opened("gzm-2")]}).encode()
    body = gzip.compress(text[:30]) + gzip.compress(text[30:]) + b"\x00" * 8
    r = server.request("POST", EVENT, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert (r.status, r.json()["accepted"]) == (200, 2)
    assert len(stored(db[1], "gzm-2")) == 1


def chunked(server, body: bytes, headers: dict) -> tuple[int, dict]:
    """POST ``body`` with ``Transfer-Encoding: chunked`` (no Content-Length), in pieces of 7 bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        pieces = (body[i:i + 7] for i in range(0, len(body), 7))
        conn.request("POST", EVENT, body=pieces, headers={"Transfer-Encoding": "chunked", **headers},
                     encode_chunked=True)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_chunked_bodies_are_read_whole(server, db):
    body = json.dumps({"batch": [opened("chunk-1"), opened("chunk-2")]}).encode()
    assert chunked(server, body, {"Content-Type": "application/json"}) == (
        200, {"accepted": 2, "duplicates": 0, "rejected": []})
    gz = gzip.compress(json.dumps(opened("chunk-gz-1")).encode())
    assert chunked(server, gz, {"Content-Type": "text/plain", "Content-Encoding": "gzip"}) == (
        200, {"accepted": 1, "duplicates": 0, "rejected": []})
    assert [len(stored(db[1], e)) for e in ("chunk-1", "chunk-2", "chunk-gz-1")] == [1, 1, 1]
    # the body limit (INGEST_MAX_BODY_BYTES=20000 here) holds without a Content-Length to check first
    big = json.dumps({"batch": [opened(f"chunk-big-{i}", event_data={"referrer": "r" * 400}) for i in range(49)]})
    status, answer = chunked(server, big.encode(), {"Content-Type": "application/json"})
    assert (status, answer["code"], answer["description"]) == (
        413, "body_too_large", "the body must be at most 20000 bytes (got more)")
    assert len(stored(db[1], "chunk-big-0")) == 0


@pytest.mark.parametrize(("framing", "error"), [
    (b"zz\r\n{}\r\n0\r\n\r\n", "InvalidChunkSize"),  # not a hexadecimal size
    (b"1\r\n{}\r\n0\r\n\r\n", "ChunkMissingTerminator"),  # the chunk is longer than its size
])
def test_malformed_chunked_body_is_400_not_500(server, framing, error):
    head = (b"POST " + EVENT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + framing)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert (status_line, body["code"]) == (b"HTTP/1.1 400 Bad Request", "unreadable_body")
    assert body["description"].startswith(f"the request body could not be read ({error}")


# --- the acceptance window and clock skew ---------------------------------------------------------------------
def test_window_rejects_too_old_and_future_events(server):
    r = server.request("POST", EVENT, {"batch": [opened("old-1", timestamp=now_iso(-timedelta(days=8))),
                                                 opened("fut-1", timestamp=now_iso(timedelta(minutes=10))),
                                                 opened("in-1", timestamp=now_iso(-timedelta(days=6)))]})
    body = r.json()
    assert (r.status, body["accepted"]) == (200, 1)
    assert [(x["index"], x["field"], x["code"]) for x in body["rejected"]] == [
        (0, "timestamp", "too_old"), (1, "timestamp", "future_timestamp")]
    assert body["rejected"][0]["message"].startswith("'timestamp' must not be older than 7 days (got ")


def test_clock_skew_is_corrected_from_sent_at(server, db):
    # the client's clock is 2 hours behind: its "now" is server now - 2 h
    skew = timedelta(hours=2)
    client_event_time = datetime.now(UTC) - skew - timedelta(seconds=30)
    r = server.request("POST", EVENT, {"sent_at": now_iso(-skew), "batch": [
        opened("skew-1", timestamp=client_event_time.isoformat())]})
    assert r.json()["accepted"] == 1
    row = stored(db[1], "skew-1")[0]
    expected = client_event_time.replace(tzinfo=None) + skew
    assert abs((row.timestamp - expected).total_seconds()) < 2
    # a small drift (latency-sized) is left alone
    t = datetime.now(UTC) - timedelta(seconds=20)
    r = server.request("POST", EVENT, opened("skew-2", timestamp=t.isoformat(), sent_at=now_iso(-timedelta(seconds=5))))
    assert r.json()["accepted"] == 1
    assert stored(db[1], "skew-2")[0].timestamp == t.replace(tzinfo=None)


def test_skewed_future_clock_is_accepted_after_correction(server, db):
    # the client's clock is 1 hour ahead: its timestamps look future to the server until corrected
    ahead = timedelta(hours=1)
    r = server.request("POST", EVENT, opened("ahead-1", timestamp=now_iso(ahead), sent_at=now_iso(ahead)))
    assert r.json()["accepted"] == 1
    assert abs((stored(db[1], "ahead-1")[0].timestamp - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) < 5


def test_bad_sent_at(server):
    r = server.request("POST", EVENT, {"sent_at": "yesterday", "batch": [opened("sa-1")]})
    assert (r.status, r.json()["code"]) == (400, "invalid_sent_at")
    r = server.request("POST", EVENT, opened("sa-2", sent_at="0001-01-01T00:00:00Z"))
    assert r.status == 400
    assert r.json()["rejected"][0]["field"] == "sent_at"
    assert r.json()["rejected"][0]["message"].startswith("'sent_at' must be within 3650 days of the server's time")


# --- every bad input is a clear 4xx -----------------------------------------------------------------------------
BAD_BODIES = [
    ("malformed", b'{"event_type": ', {}, 400, "malformed_json"),
    ("trailing garbage", b'{"a": 1} x', {}, 400, "malformed_json"),
    ("NaN", b'{"event_type": "page_load_timing", "session_id": "s", "event_data": {"load_time_ms": NaN}}', {},
     400, "not_finite"),
    ("Infinity", b'{"batch": [{"x": -Infinity}]}', {}, 400, "not_finite"),
    ("invalid utf-8", b'{"event_type": "\xff\xfe", "session_id": "s"}', {}, 400, "invalid_utf8"),
    ("deep", b"[" * 100_00 + b"]" * 100_00, {}, 400, "too_deep"),
    ("empty", b"", {}, 400, "empty_body"),
    ("scalar", b"42", {}, 400, "invalid_body"),
    ("batch not array", b'{"batch": {"a": 1}}', {}, 400, "invalid_batch"),
    ("empty batch", b'{"batch": []}', {}, 400, "empty_batch"),
    ("too many", json.dumps({"batch": [opened(f"m{i}") for i in range(51)]}).encode(), {}, 413, "too_many_events"),
    ("too large", b'{"x": "' + b"a" * 30_000 + b'"}', {}, 413, "body_too_large"),
    ("form", b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ("latin-1", b"{}", {"Content-Type": "application/json; charset=latin-1"}, 415, "unsupported_charset"),
    ("brotli", b"{}", {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
    ("bad gzip", b"not gzip at all", {"Content-Encoding": "gzip"}, 400, "invalid_gzip"),
    ("truncated gzip", gzip.compress(b'{"a": 1}')[:-6], {"Content-Encoding": "gzip"}, 400, "invalid_gzip"),
    ("gzip bomb", gzip.compress(b" " * 5_000_000), {"Content-Encoding": "gzip"}, 413, "body_too_large"),
    ("gzip, then not gzip", gzip.compress(b'{"a": 1}') + b"garbage", {"Content-Encoding": "gzip"}, 400, "invalid_gzip"),
    ("gzip members, bomb in all", gzip.compress(b" " * 3_000_000) * 2, {"Content-Encoding": "gzip"}, 413, "body_too_large"),
]


@pytest.mark.parametrize(("name", "body", "headers", "status", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_request_bodies(server, name, body, headers, status, code):
    r = server.request("POST", EVENT, body, {"Content-Type": "application/json", **headers})
    assert (r.status, r.json().get("code")) == (status, code), r


def test_a_string_no_database_can_store_rejects_its_event_only(server, db):
    # a lone surrogate (a tracker cutting "🚀" in half at a length limit) or a NUL: that event, not the whole batch
    body = (b'{"batch": [{"event_type": "ai_calculator_opened", "session_id": "s", "event_id": "str-1"}, '
            b'{"event_type": "ai_calculator_opened", "session_id": "s", "event_id": "str-2", '
            b'"event_data": {"campaign": "launch \\ud83d"}}, '
            b'{"event_type": "ai_calculator_opened", "session_id": "a\\u0000b", "event_id": "str-3"}, '
            b'{"event_type": "ai_calculator_opened", "session_id": "s", "event_id": "str-4", '
            b'"event_data": {"campaign": "launch \\ud83d\\ude80"}}]}')  # fmt: skip
    r = server.request("POST", EVENT, body, {"Content-Type": "application/json"})
    assert (r.status, r.json()["accepted"]) == (200, 2)
    assert r.json()["rejected"] == [
        {"index": 1, "field": "event_data.campaign", "code": "invalid_string",
         "message": "'event_data.campaign' must be valid Unicode (got a lone surrogate escape such as \\ud800)"},
        {"index": 2, "field": "session_id", "code": "invalid_string",
         "message": "'session_id' must not contain the NUL character (\\u0000)"},
    ]  # fmt: skip
    assert [len(stored(db[1], f"str-{i}")) for i in range(1, 5)] == [1, 0, 0, 1]
    assert stored(db[1], "str-4")[0].event_data["campaign"] == "launch \U0001f680"
    r = server.request("POST", EVENT, b'{"event_type": "ai_calculator_opened", "session_id": "\\ud800"}',
                       {"Content-Type": "application/json"})  # fmt: skip
    assert (r.status, r.json()["rejected"][0]["code"]) == (400, "invalid_string")


def test_bad_request_messages(server):
    r = server.request("POST", EVENT, b'{"event_type": ', {"Content-Type": "application/json"})
    assert r.json()["description"] == "the body is not valid JSON: Expecting value at line 1 column 16"
    r = server.request("POST", EVENT, b"x" * 30_000, {"Content-Type": "application/json"})
    assert r.json()["description"] == "the body must be at most 20000 bytes (got Content-Length 30000)"
    r = server.request("POST", EVENT, {"batch": [opened(f"m{i}") for i in range(51)]})
    assert r.json()["description"] == "a batch must hold at most 50 events (got 51)"


def test_field_limits_are_rejections(server):
    batch = [
        {"event_type": "ai_calculator_opened", "session_id": "s" * 101},
        {"event_type": "client_error", "session_id": "s", "event_data": {"message": "m" * 1001}},
        {"event_type": "ai_calculator_opened", "session_id": "s", "event_data": {"a": {"b": {"c": {"d": {"e": {}}}}}}},
        {"event_type": "page_load_timing", "session_id": "s", "event_data": {"load_time_ms": "__INF__"}},
        {"event_type": "ai_calculator_opened", "session_id": "s", "event_id": 17},
    ]
    r = server.request("POST", EVENT, json.dumps({"batch": batch}).replace('"__INF__"', "1e400"))
    assert r.status == 400
    assert [(x["index"], x["field"], x["code"]) for x in r.json()["rejected"]] == [
        (0, "session_id", "too_long"),
        (1, "event_data.message", "too_long"),
        (2, "event_data", "too_deep"),
        (3, "event_data.load_time_ms", "not_finite"),
        (4, "event_id", "type"),
    ]


def test_huge_numbers_never_500(server, db):
    # 4,000 digits: valid JSON, finite for Python, beyond what a float column holds
    big = "9" * 4000
    body = '{"event_type": "assessment_submitted", "session_id": "s", "event_id": "huge-1", "event_data": ' \
           '{"job_title": "x", "industry": "y", "risk_level": "low", "completion_time": ' + big + "}}"
    r = server.request("POST", EVENT, body, {"Content-Type": "application/json"})
    assert (r.status, r.json()["code"]) == (400, "unstorable"), r
    assert stored(db[1], "huge-1") == []
    r = server.request("POST", EVENT, '{"x": ' + "9" * 5000 + "}", {"Content-Type": "application/json"})
    assert (r.status, r.json()["code"]) == (400, "malformed_json")


def test_method_and_route_errors(server):
    assert server.request("GET", EVENT).status == 405
    assert server.request("GET", "/api/analytics/nothing").status == 404


# --- CORS -------------------------------------------------------------------------------------------------------
def test_cors_preflight_and_headers(server):
    pre = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    r = server.request("OPTIONS", EVENT, headers=pre)
    assert r.status == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert r.headers["access-control-allow-headers"] == "content-type"
    assert "origin" in r.headers["vary"].lower()
    r = server.request("POST", EVENT, opened("cors-1"), {"Origin": ORIGIN})
    assert (r.status, r.headers["access-control-allow-origin"]) == (200, ORIGIN)
    r = server.request("OPTIONS", EVENT, headers={**pre, "Origin": "https://evil.example"})
    assert (r.status, r.json()["code"]) == (403, "origin_not_allowed")
    assert "access-control-allow-origin" not in r.headers
    r = server.request("POST", EVENT, opened("cors-2"), {"Origin": "https://evil.example"})
    assert (r.status, r.json()["code"]) == (403, "origin_not_allowed")
    r = server.request("GET", "/api/analytics/health", headers={"Origin": "https://evil.example"})
    assert r.status == 200 and "access-control-allow-origin" not in r.headers


def test_own_origin_is_allowed(server):
    # The calculator page served by the sidecar itself posts with its own origin, configured or not.
    own = f"http://127.0.0.1:{server.port}"
    r = server.request("POST", EVENT, opened("cors-own"), {"Origin": own})
    assert (r.status, r.headers["access-control-allow-origin"]) == (200, own)


# --- health, readiness, OpenAPI ---------------------------------------------------------------------------------
def test_health_ready_openapi(server):
    r = server.request("GET", "/api/analytics/health")
    assert (r.status, r.json()["status"], r.json()["database"]) == (200, "healthy", "ok")
    r = server.request("GET", "/api/analytics/ready")
    assert (r.status, r.json()["ready"]) == (200, True)
    r = server.request("GET", "/api/analytics/openapi.yaml")
    assert r.status == 200 and r.body.startswith(b"openapi: 3.0.3")
    for path in ("/api/analytics/health", "/api/analytics/ready"):  # HEAD probes: the status, no body (was 405)
        r = server.request("HEAD", path)
        assert (r.status, r.body, r.headers["content-type"]) == (200, b"", "application/json")


# --- A/B variants -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tests_created(db):
    from analytics.experiments import Variant, create_test, start_test

    engine = db[1]
    create_test(engine, name="offer", test_type="custom", test_id="offer-t", variants=[
        Variant("control", 0.5), Variant("discount", 0.5)])
    start_test(engine, "offer-t")
    create_test(engine, name="draft", test_type="custom", test_id="draft-t", variants=[
        Variant("a", 0.5), Variant("b", 0.5)])
    return engine


def test_variant_is_deterministic_and_recorded(server, tests_created):
    from analytics.experiments import Assigner
    from analytics.privacy import (
        pseudonymize_user_id as pid,  # issue 11: assignment is keyed on the pseudonym
    )

    expected = Assigner("offer-t", ["control", "discount"], weights=[0.5, 0.5])
    seen = {}
    for i in range(40):
        r = server.request("GET", f"/api/analytics/ab-testing/offer-t/variant?user_id=u{i}")
        body = r.json()
        assert (r.status, body["in_test"], body["reason"]) == (200, True, "assigned")
        assert body["variant"] == expected(pid(f"u{i}")).variant
        seen[pid(f"u{i}")] = body["variant"]
    assert set(seen.values()) == {"control", "discount"}
    again = server.request("GET", "/api/analytics/ab-testing/offer-t/variant?user_id=u3").json()
    assert again["variant"] == seen[pid("u3")]
    deadline = time.monotonic() + 10
    while count(tests_created, ab_assignments, test_id="offer-t") < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    with tests_created.connect() as conn:
        rows = dict(conn.execute(select(ab_assignments.c.unit_id, ab_assignments.c.variant)
                                 .where(ab_assignments.c.test_id == "offer-t")).all())
    assert rows == seen


def test_inactive_or_unknown_test_answers_control(server, tests_created):
    r = server.request("GET", "/api/analytics/ab-testing/draft-t/variant?session_id=s9")
    assert (r.status, r.json()["variant"], r.json()["in_test"], r.json()["reason"]) == (200, "a", False,
                                                                                           "test_not_running")
    assert r.json()["unit_type"] == "session_id"
    r = server.request("GET", "/api/analytics/ab-testing/missing/variant?user_id=u1")
    assert (r.status, r.json()["variant"], r.json()["in_test"], r.json()["reason"]) == (200, "control", False,
                                                                                           "test_not_found")
    assert count(tests_created, ab_assignments, test_id="draft-t") == 0


def test_variant_bad_parameters(server):
    r = server.request("GET", "/api/analytics/ab-testing/offer-t/variant")
    assert (r.status, r.json()["code"]) == (400, "missing_unit")
    r = server.request("GET", "/api/analytics/ab-testing/offer-t/variant?user_id=" + "u" * 101)
    assert (r.status, r.json()["description"]) == (400, "'user_id' must be at most 100 characters (got 101)")
    r = server.request("GET", "/api/analytics/ab-testing/offer-t/variant?session_id=a%0Ab")
    assert (r.status, r.json()["code"], r.json()["description"]) == (
        400, "invalid_string",
        "'session_id' must not be blank or contain control, separator or invisible characters (got 'a\\nb')",
    )  # fmt: skip
    r = server.request("GET", "/api/analytics/ab-testing/offer-t/variant?user_id=%20%20")
    assert (r.status, r.json()["code"]) == (400, "invalid_string")


# --- API keys and rate limit (their own servers) --------------------------------------------------------------
def test_api_key_and_rate_limit(db):
    # 0.01 token per second: no token comes back during the test, however long the writer takes to start
    with Server(db[0], {"INGEST_API_KEYS": "k1,k2", "INGEST_RATE_LIMIT": "0.01", "INGEST_RATE_BURST": "3"}) as srv:
        r = srv.request("POST", EVENT, opened("key-0"))
        assert (r.status, r.json()["code"]) == (401, "invalid_api_key")
        assert r.json()["description"].endswith("(got none)")
        assert srv.request("POST", EVENT + "?api_key=k2", opened("key-1")).status == 200
        assert srv.request("POST", EVENT, opened("key-2"), {"X-API-Key": "k1"}).status == 200
        # an unknown key counts as none: this address' bucket, where the first POST took one of three tokens
        # (the two POSTs with configured keys have buckets of their own)
        statuses = [srv.request("GET", "/api/analytics/ab-testing/t/variant?user_id=u", headers={"X-API-Key": "k9"})
                    for _ in range(3)]
        assert [s.status for s in statuses] == [200, 200, 429]
        assert statuses[-1].json()["code"] == "rate_limited"
        description = statuses[-1].json()["description"]
        assert description.startswith("at most 0.01 requests per second per client (burst 3); retry after ")
        # the missing part of a token at 0.01 per second: 100 s less what came back since the last request
        assert 90 <= float(description.split("retry after ")[1].rstrip(" s")) <= 100
        assert 90 <= int(statuses[-1].headers["retry-after"]) <= 100
        with_k1 = [srv.request("GET", "/api/analytics/ab-testing/t/variant?user_id=u", headers={"X-API-Key": "k1"})
                   for _ in range(3)]
        assert [s.status for s in with_k1] == [200, 200, 429]  # k1's bucket: its POST took one token
        # health checks are never limited
        assert srv.request("GET", "/api/analytics/health", headers={"X-API-Key": "k9"}).status == 200
        # a made-up key per request is no new bucket (it was: the limit could be passed at will)
        made_up = [srv.request("GET", "/api/analytics/ab-testing/t/variant?user_id=u", headers={"X-API-Key": f"x{i}"})
                   for i in range(2)]
        assert [s.status for s in made_up] == [429, 429]


# --- statsd -----------------------------------------------------------------------------------------------------
def test_statsd_metrics_are_sent(db):
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    env = {"STATSD_HOST": "127.0.0.1", "STATSD_PORT": str(sock.getsockname()[1]), "INGEST_RATE_LIMIT": "0"}
    with Server(db[0], env) as srv:
        srv.request("POST", EVENT, {"batch": [
            {"event_type": "calculator_step_completed", "session_id": "m", "event_id": "metric-1",
             "event_data": {"step": 2, "seconds_on_step": 3}},
            {"event_type": "bogus", "session_id": "m"}, {"event_type": "bogus-2", "session_id": "m"},
            {"event_type": 7, "session_id": "m"}, {"event_type": "payment_succeeded", "session_id": "m"}]})
        lines: set[str] = set()
        deadline = time.monotonic() + 5
        def complete() -> bool:  # a flush may span several packets (counters first, then timers)
            return any(x.startswith("ai_calculator.api.requests.api_analytics_event") for x in lines) and any(
                x.startswith("ai_calculator.api.response_time.api_analytics_event") for x in lines)

        while time.monotonic() < deadline and not complete():
            try:
                lines.update(sock.recv(65536).decode().splitlines())
            except TimeoutError:
                pass
    sock.close()
    assert {"ai_calculator.calculator_step_completed:1|c", "ai_calculator.funnel.step_completed.2:1|c",
            "ai_calculator.ingest.rejected.unknown:2|c", "ai_calculator.ingest.rejected.invalid:1|c",
            "ai_calculator.ingest.rejected.payment_succeeded:1|c",  # made-up types never name a series
            "ai_calculator.api.requests.api_analytics_event.POST.200:1|c"} <= lines
    assert any(x.startswith("ai_calculator.api.response_time.api_analytics_event.POST:") and x.endswith("|ms")
               for x in lines)
    assert not any("bogus" in x for x in lines)


# --- `gunicorn ingest_service.app:app` with DATABASE_URL only ----------------------------------------------------
def _plain_gunicorn_post(url: str, cwd, event: dict, **env_extra: str):
    """Start ``gunicorn ingest_service.app:app`` (no config file) on ``url``, POST ``event``, stop it."""
    import os
    import subprocess
    import sys

    from ingest_service.testing import ROOT, free_port, request

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(DATABASE_URL=url, PYTHONPATH=str(ROOT), INGEST_RUNTIME_DIR=str(cwd / "run"), **env_extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--no-control-socket", "-b", f"127.0.0.1:{port}", "ingest_service.app:app"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                return request(port, "POST", EVENT, event, timeout=30)
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.2)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_plain_gunicorn_on_a_new_database_migrates_it(backend, tmp_path):
    """The issue's deployment: no config file, no migration step; the database has no tables yet."""
    url, cleanup = make_database(backend, tmp_path)
    try:
        # told not to migrate: a missing table is the database's state, not the events' fault -- 503, retry later
        # (PostgreSQL's undefined table was answered 400 "unstorable": the client would have dropped its events)
        r = _plain_gunicorn_post(url, tmp_path, opened("plain-0"), INGEST_MIGRATE="0")
        assert (r.status, r.json()["code"]) == (503, "database_unavailable")
        assert "retry-after" in r.headers
        r = _plain_gunicorn_post(url, tmp_path, opened("plain-1"))
        assert (r.status, r.json()) == (200, {"accepted": 1, "duplicates": 0, "rejected": []})
        engine = _build_engine(url)
        assert len(stored(engine, "plain-1")) == 1
        engine.dispose()
    finally:
        cleanup()


def test_a_relative_sqlite_path_is_one_file_for_the_server_and_its_writer(tmp_path):
    """``DATABASE_URL=sqlite:///<relative>`` with gunicorn started in another directory than the project: the
    writer process (which runs in the project directory) used to open a second, empty file there."""
    import uuid

    from ingest_service.testing import ROOT

    name = f"rel-{uuid.uuid4().hex[:8]}.db"
    try:
        r = _plain_gunicorn_post(f"sqlite:///{name}", tmp_path, opened("rel-1"))
        assert (r.status, r.json()["accepted"]) == (200, 1)
        assert len(stored(_build_engine(f"sqlite:///{tmp_path / name}"), "rel-1")) == 1  # in the server's directory
        assert not (ROOT / name).exists()
    finally:
        for stray in ROOT.glob(f"{name}*"):
            stray.unlink()
