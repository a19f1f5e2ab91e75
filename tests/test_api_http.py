"""The authenticated API over HTTP (gunicorn on a loopback port) against a copy of the demo data: every endpoint's
happy path, each bad parameter, auth failures, caching, SQL-injection strings, the deletion request, no IPs."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text

from analytics.bi import BusinessIntelligence
from analytics.dashboard import AICalculatorDashboard
from analytics.db import _build_engine
from analytics.schema import ab_assignments, analytics_events, assessments, metadata, sessions
from ingest_service.api.jsonable import to_jsonable
from ingest_service.testing import Server

READ, ADMIN, PSEUDO_KEY = "read-key-0123456789", "admin-key-9876543210", "pseudonym-key-for-tests-0123456789"
RH, AH = {"Authorization": f"Bearer {READ}"}, {"Authorization": f"Bearer {ADMIN}"}
P = "/api/analytics"
ENV = {"ANALYTICS_READ_KEYS": f"other-read-key-xx,{READ}", "ANALYTICS_ADMIN_KEYS": ADMIN,
       "ANALYTICS_PSEUDONYM_KEY": PSEUDO_KEY, "INGEST_RATE_LIMIT": "0", "ANALYTICS_API_MAX_RANGE_DAYS": "120"}
PERIOD = "start_date=2026-10-01&end_date=2026-11-23"

#: every protected endpoint: (method, path, scope)
ENDPOINTS = [
    ("GET", f"{P}/dashboard/funnel", "read"),
    ("GET", f"{P}/dashboard/conversions", "read"),
    ("GET", f"{P}/dashboard/popular", "read"),
    ("GET", f"{P}/dashboard/revenue", "read"),
    ("GET", f"{P}/reports/weekly", "read"),
    ("GET", f"{P}/reports/cohorts", "read"),
    ("GET", f"{P}/reports/ltv", "read"),
    ("GET", f"{P}/reports/market-intelligence", "read"),
    ("GET", f"{P}/reports/lead-comparison", "read"),
    ("GET", f"{P}/ab-testing/demo-pricing-offers/results", "read"),
    ("GET", f"{P}/performance/summary", "read"),
    ("POST", f"{P}/ab-testing/create", "admin"),
    ("POST", f"{P}/ab-testing/demo-pricing-offers/start", "admin"),
    ("POST", f"{P}/performance/start-monitoring", "admin"),
    ("POST", f"{P}/performance/stop-monitoring", "admin"),
    ("POST", f"{P}/admin/delete-person", "admin"),
]


def copy_demo(demo_engine, target) -> str:
    """A private copy of the session's demo database (the shared one is read-only)."""
    src = sqlite3.connect(demo_engine.url.database)
    dst = sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def db_url(demo_engine, tmp_path_factory) -> str:
    return copy_demo(demo_engine, tmp_path_factory.mktemp("api") / "api.db")


@pytest.fixture(scope="module")
def engine(db_url):
    eng = _build_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def server(db_url):
    with Server(db_url, ENV, threads=4) as srv:
        yield srv


def get(server, path: str, headers: dict | None = None):
    return server.request("GET", path, headers=RH if headers is None else headers)


def ok_data(server, path: str) -> Any:
    r = get(server, path)
    assert r.status == 200, r
    return r.json()["data"]


# --- happy paths: the API answers exactly what the seed objects compute -----------------------------------------


def test_dashboard_endpoints_answer_the_seed_objects(server, db_url):
    d = AICalculatorDashboard(database_url=db_url)
    s, e = "2026-10-01", "2026-11-23"
    assert ok_data(server, f"{P}/dashboard/funnel?{PERIOD}") == to_jsonable(d.get_calculator_funnel(s, e))
    assert ok_data(server, f"{P}/dashboard/funnel?{PERIOD}&breakdown=device") == to_jsonable(
        d.get_calculator_funnel(s, e, breakdown="device"))
    assert ok_data(server, f"{P}/dashboard/conversions?{PERIOD}") == to_jsonable(
        d.get_conversion_rates_by_risk_level(s, e))
    assert ok_data(server, f"{P}/dashboard/conversions?{PERIOD}&by=demographics") == to_jsonable(
        d.get_conversion_rates_by_demographics(s, e))
    assert ok_data(server, f"{P}/dashboard/conversions?{PERIOD}&by=country") == to_jsonable(
        d.get_geographic_distribution(s, e))
    assert ok_data(server, f"{P}/dashboard/popular?{PERIOD}&limit=5") == to_jsonable(d.get_popular_content(s, e, 5))
    assert ok_data(server, f"{P}/dashboard/revenue?{PERIOD}&by=medium") == to_jsonable(
        d.get_revenue_attribution(s, e, by="medium"))


def test_popular_counts_match_plain_sql(server, engine):
    top = ok_data(server, f"{P}/dashboard/popular?{PERIOD}&limit=3")["job_titles"]
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT job_title, COUNT(*) AS n FROM assessments WHERE created_at >= '2026-10-01' AND "
            "created_at < '2026-11-23' GROUP BY job_title ORDER BY n DESC, job_title LIMIT 3")).all()
    assert [(t["value"], t["assessments"]) for t in top] == [tuple(r) for r in rows]


def test_report_endpoints_answer_the_seed_objects(server, engine):
    bi = BusinessIntelligence(engine)
    assert ok_data(server, f"{P}/reports/weekly?as_of=2026-11-20") == to_jsonable(
        bi.generate_weekly_report(as_of="2026-11-20"))
    assert ok_data(server, f"{P}/reports/cohorts?{PERIOD}&period=month") == to_jsonable(
        bi.analyze_cohorts("2026-10-01", "2026-11-23", period="month"))
    assert ok_data(server, f"{P}/reports/ltv?{PERIOD}&segment=industry") == to_jsonable(
        bi.get_ltv_by_segments("industry", "2026-10-01", "2026-11-23"))
    assert ok_data(server, f"{P}/reports/market-intelligence?time_period_days=14&end_date=2026-11-20") == (
        to_jsonable(bi.get_market_intelligence(14, end="2026-11-20")))
    assert ok_data(server, f"{P}/reports/lead-comparison?{PERIOD}") == to_jsonable(
        bi.compare_lead_sources("2026-10-01", "2026-11-23"))


def test_results_and_performance_summary(server, engine):
    from analytics.experiments import ABTesting

    data = ok_data(server, f"{P}/ab-testing/demo-pricing-offers/results?alpha=0.1")
    assert data == to_jsonable(ABTesting(engine).get_results("demo-pricing-offers", alpha=0.1).as_dict())
    summary = ok_data(server, f"{P}/performance/summary?hours=6")
    start, end = (summary[k] for k in ("start", "end"))
    from datetime import datetime

    assert (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() == 6 * 3600


def test_create_start_monitoring_lifecycle(server, engine):
    body = {"test_type": "urgency_messaging", "name": "Urgency", "test_id": "api-urgency",
            "variants": [{"name": "none"}, {"name": "strong", "message": "Act now", "level": "high"}]}
    r = server.request("POST", f"{P}/ab-testing/create", body, AH)
    assert r.status == 201, r
    assert (r.json()["test_id"], r.json()["config"]["status"]) == ("api-urgency", "draft")
    again = server.request("POST", f"{P}/ab-testing/create", body, AH)
    assert (again.status, again.json()["parameter"]) == (400, "test_id")
    assert again.json()["description"] == "'test_id' must be new (got test_id='api-urgency', which exists)"
    r = server.request("POST", f"{P}/ab-testing/api-urgency/start", None, AH)
    assert (r.status, r.json()["status"]) == (200, "running")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM ab_tests WHERE test_id = 'api-urgency'")).scalar() == "running"
    r = server.request("POST", f"{P}/ab-testing/nope/start", None, AH)
    assert (r.status, r.json()["description"]) == (404, "'test_id' 'nope' does not exist")
    assert get(server, f"{P}/ab-testing/nope/results").status == 404
    r = server.request("POST", f"{P}/performance/start-monitoring", {"interval": 30}, AH)
    assert r.json() == {"started": True, "monitoring": True, "interval": 30.0}
    r = server.request("POST", f"{P}/performance/start-monitoring", None, AH)
    assert r.json() == {"started": False, "monitoring": True, "interval": 30.0}
    assert server.request("POST", f"{P}/performance/stop-monitoring", None, AH).json() == {
        "stopped": True, "monitoring": False}


def test_dashboard_answers_are_cached_per_parameter_set(server):
    path = f"{P}/dashboard/revenue?start_date=2026-10-02&end_date=2026-11-01"
    first, second = get(server, path), get(server, path)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.body == second.body
    assert second.headers["cache-control"].startswith("private, max-age=")
    assert 290 <= int(second.headers["cache-control"].rsplit("=", 1)[1]) <= 300
    # the same parameters written differently are the same entry; other parameters are another one
    same = get(server, f"{P}/dashboard/revenue?end_date=2026-11-01T00:00:00&start_date=2026-10-02")
    assert same.headers["x-cache"] == "hit"
    assert get(server, f"{P}/dashboard/revenue?start_date=2026-10-03&end_date=2026-11-01").headers[
        "x-cache"] == "miss"


# --- bad parameters ---------------------------------------------------------------------------------------------

BAD = [
    (f"{P}/dashboard/funnel?start_date=yesterday", "start_date",
     "'start_date' must be an ISO 8601 date or time such as 2026-01-31 (got 'yesterday')"),
    (f"{P}/dashboard/funnel?start_date=2026-02-30", "start_date",
     "'start_date' must be an ISO 8601 date or time such as 2026-01-31 (got '2026-02-30')"),
    (f"{P}/dashboard/funnel?end_date=1999-12-31", "end_date", "'end_date' must be between 2000 and 2100 (got '1999-12-31')"),
    (f"{P}/dashboard/funnel?start_date=2026-11-01&end_date=2026-10-01", "end_date",
     "'end_date' must not be before 'start_date' (got end_date=2026-10-01T00:00:00, start_date=2026-11-01T00:00:00)"),
    (f"{P}/dashboard/funnel?start_date=2026-01-01&end_date=2026-11-01", "end_date",
     "the range from 'start_date' to end_date must be at most 120 days (got 304 days)"),
    (f"{P}/dashboard/funnel?breakdown=os", "breakdown",
     "'breakdown' must be one of source, medium, campaign, device, country (got 'os')"),
    (f"{P}/dashboard/funnel?start=2026-01-01", "start",
     "unknown query parameter 'start' (expected: start_date, end_date, breakdown)"),
    (f"{P}/dashboard/funnel?breakdown=device&breakdown=source", "breakdown", "'breakdown' must be given once (got 2 values)"),
    (f"{P}/dashboard/conversions?by=age", "by", "'by' must be one of risk_level, demographics, country, region (got 'age')"),
    (f"{P}/dashboard/popular?limit=0", "limit", "'limit' must be a whole number from 1 to 100 (got '0')"),
    (f"{P}/dashboard/popular?limit=ten", "limit", "'limit' must be a whole number from 1 to 100 (got 'ten')"),
    (f"{P}/dashboard/revenue?by=device", "by", "'by' must be one of source, medium, campaign (got 'device')"),
    (f"{P}/reports/weekly?as_of=soon", "as_of", "'as_of' must be an ISO 8601 date or time such as 2026-01-31 (got 'soon')"),
    (f"{P}/reports/weekly?week_start=friday", "week_start", "'week_start' must be one of monday, sunday (got 'friday')"),
    (f"{P}/reports/cohorts?period=year", "period", "'period' must be one of day, week, month (got 'year')"),
    (f"{P}/reports/cohorts?cohort_type=all", "cohort_type", "'cohort_type' must be one of first_time, recurring (got 'all')"),
    (f"{P}/reports/ltv?segment=age", "segment",
     "'segment' must be one of risk_level, industry, job_title, country, source, medium, lead_source, device (got 'age')"),
    (f"{P}/reports/market-intelligence?time_period_days=400", "time_period_days",
     "'time_period_days' must be a whole number from 1 to 366 (got '400')"),
    (f"{P}/reports/lead-comparison?end_date=x", "end_date",
     "'end_date' must be an ISO 8601 date or time such as 2026-01-31 (got 'x')"),
    (f"{P}/ab-testing/demo-pricing-offers/results?alpha=0.7", "alpha", "'alpha' must be a number in (0, 0.5] (got '0.7')"),
    (f"{P}/ab-testing/demo-pricing-offers/results?mde=nan", "mde", "'mde' must be a number in (0, 10] (got 'nan')"),
    (f"{P}/ab-testing/{'x' * 101}/results", "test_id", "'test_id' must be at most 100 characters (got 101)"),
    (f"{P}/performance/summary?hours=-1", "hours", "'hours' must be a number in (0, 720] (got '-1')"),
]


@pytest.mark.parametrize(("path", "name", "message"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_query_parameters_answer_400_naming_them(server, path, name, message):
    r = get(server, path)
    assert r.status == 400, r
    assert r.json() == {"title": "Invalid parameter", "description": message, "code": "invalid_parameter",
                        "parameter": name}


POST_BAD = [
    (f"{P}/ab-testing/create", {"name": "x", "variants": []}, "test_type",
     "'test_type' must be one of conversion_offer, risk_algorithm, personalization, urgency_messaging (got None)"),
    (f"{P}/ab-testing/create", {"test_type": "personalization", "name": "", "variants": []}, "name",
     "'name' must be a non-empty string of at most 200 characters (got str)"),
    (f"{P}/ab-testing/create", {"test_type": "personalization", "name": "n", "variants": [{"name": "a"}]}, "variants",
     "'variants' must be an array of 2 to 10 objects, control first"),
    (f"{P}/ab-testing/create", {"test_type": "conversion_offer", "name": "n",
                                "variants": [{"name": "a", "price": 1}, {"name": "b", "price": "9"}]},
     "variants[1].price", "'variants[1].price' must be a number >= 0"),
    (f"{P}/ab-testing/create", {"test_type": "urgency_messaging", "name": "n", "variants": [{"name": "a"}, {"name": "b"}],
                                "weights": [0.9, 0.3]}, "weights", None),
    (f"{P}/ab-testing/create", {"test_type": "urgency_messaging", "name": "n", "variants": [{"name": "a"}, {"name": "b"}],
                                "coverage": 2}, "coverage", "'coverage' must be in (0, 1] (got coverage=2.0)"),
    (f"{P}/ab-testing/create", {"test_type": "urgency_messaging", "name": "n", "variants": [{"name": "a"}, {"name": "b"}],
                                "test_id": "a b"}, "test_id", "'test_id' must be 1 to 100 letters, digits, '_', '.' or '-'"),
    (f"{P}/ab-testing/create", {"test_type": "urgency_messaging", "name": "n", "variants": [{"name": "a"}, {"name": "b"}],
                                "owner": "me"}, "owner", None),
    (f"{P}/performance/start-monitoring", {"interval": 0}, "interval",
     "'interval' must be a number of seconds from 1 to 3600 (got 0)"),
    (f"{P}/performance/stop-monitoring", {"now": True}, "now", "unknown field 'now' (expected: none)"),
    (f"{P}/admin/delete-person", {}, "user_id", "'user_id' must be a non-empty string of at most 100 characters (got NoneType)"),
    (f"{P}/admin/delete-person", {"user_id": "u" * 101}, "user_id",
     "'user_id' must be a non-empty string of at most 100 characters (got str)"),
]


@pytest.mark.parametrize(("path", "body", "name", "message"), POST_BAD, ids=[b[2] + str(i) for i, b in enumerate(POST_BAD)])
def test_bad_bodies_answer_400_naming_the_field(server, path, body, name, message):
    r = server.request("POST", path, body, AH)
    assert (r.status, r.json()["parameter"]) == (400, name), r
    if message is not None:
        assert r.json()["description"] == message


def test_body_that_is_not_an_object(server):
    r = server.request("POST", f"{P}/admin/delete-person", [1, 2], AH)
    assert (r.status, r.json()["description"]) == (400, "the body must be a JSON object")


# --- authentication ---------------------------------------------------------------------------------------------

WRONG = [None, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {READ}"},
         {"Authorization": f"Bearer {READ[:-1]}"}, {"Authorization": "Bearer"}, {"X-API-Key": ADMIN}]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_auth_failures(server, method, path, scope):
    answers = []
    for headers in WRONG:
        r = server.request(method, path, {} if method == "POST" else None, headers or {})
        answers.append((r.status, r.body, r.headers.get("www-authenticate")))
    # every failure is the same answer: nothing tells which keys exist
    assert set(answers) == {(401, b'{"title": "Unauthorized", "description": "a valid API key is required: '
                                          b'send \'Authorization: Bearer <key>\'", "code": "unauthorized"}',
                                     'Bearer realm="analytics"')}
    if scope == "admin":
        r = server.request(method, path, {}, RH)
        assert (r.status, r.json()["code"]) == (403, "admin_key_required")
    else:
        assert server.request(method, path, None, AH).status == 200  # an admin key can also read


def test_public_endpoints_need_no_key(server):
    assert server.request("GET", f"{P}/health").status == 200
    assert server.request("GET", f"{P}/ab-testing/no-such-test/variant?session_id=s1").status == 200


def test_key_comparison_is_constant_time_over_every_key():
    """Every configured key is compared (no early exit) on digests of equal length."""
    from ingest_service.api.auth import KeyChecker

    checker = KeyChecker(("r1-aaaaaaaa", "r2-bbbbbbbb"), ("a1-cccccccc",))
    calls = []
    import ingest_service.api.auth as auth

    real = auth.hmac.compare_digest
    try:
        auth.hmac.compare_digest = lambda a, b: calls.append((len(a), len(b))) or real(a, b)
        assert [checker.scope_of(k) for k in ("r1-aaaaaaaa", "a1-cccccccc", "x", None)] == [
            "read", "admin", None, None]
    finally:
        auth.hmac.compare_digest = real
    assert calls == [(32, 32)] * 12


# --- SQL injection ----------------------------------------------------------------------------------------------

INJECTIONS = ["' OR '1'='1", "1; DROP TABLE analytics_events; --", "2026-01-01' UNION SELECT user_id FROM sessions --",
              "\"; DELETE FROM assessments; --", "1 OR 1=1", "%27%20OR%201%3D1"]


def _fingerprint(engine) -> dict[str, Any]:
    with engine.connect() as conn:
        out = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}
        out["tables"] = sorted(conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars())
        out["events_max_id"] = conn.execute(select(func.max(analytics_events.c.id))).scalar_one()
    return out


def test_sql_injection_strings_change_nothing(server, engine):
    from urllib.parse import quote

    before = _fingerprint(engine)
    params = {f"{P}/dashboard/funnel": ["start_date", "end_date", "breakdown"],
              f"{P}/dashboard/conversions": ["start_date", "end_date", "by"],
              f"{P}/dashboard/popular": ["start_date", "end_date", "limit"],
              f"{P}/dashboard/revenue": ["start_date", "end_date", "by"],
              f"{P}/reports/weekly": ["as_of", "week_start"],
              f"{P}/reports/cohorts": ["start_date", "end_date", "period", "cohort_type"],
              f"{P}/reports/ltv": ["start_date", "end_date", "segment"],
              f"{P}/reports/market-intelligence": ["time_period_days", "end_date"],
              f"{P}/reports/lead-comparison": ["start_date", "end_date"],
              f"{P}/ab-testing/demo-pricing-offers/results": ["alpha", "mde"],
              f"{P}/performance/summary": ["hours"]}
    for path, names in params.items():
        for name in names:
            for attack in INJECTIONS:
                r = get(server, f"{path}?{name}={quote(attack)}")
                assert (r.status, r.json()["parameter"]) == (400, name), (path, name, attack, r)
    for attack in INJECTIONS:
        quoted = quote(attack, safe="")
        assert get(server, f"{P}/ab-testing/{quoted}/results").status == 404
        assert server.request("POST", f"{P}/ab-testing/{quoted}/start", None, AH).status == 404
        r = server.request("POST", f"{P}/admin/delete-person", {"user_id": attack}, AH)
        assert (r.status, r.json()["total"]) == (200, 0)
        r = server.request("POST", f"{P}/ab-testing/create", {"test_type": "personalization", "name": attack,
                                                             "test_id": attack, "variants": [
            {"name": attack, "strategy": attack}, {"name": "b", "strategy": attack}]}, AH)
        assert (r.status, r.json()["parameter"]) == (400, "test_id")
        r = server.request("POST", f"{P}/performance/start-monitoring", {"interval": attack}, AH)
        assert (r.status, r.json()["parameter"]) == (400, "interval")
    assert _fingerprint(engine) == before


# --- deletion request and stored data ---------------------------------------------------------------------------


def test_delete_person_endpoint_removes_the_person(server, engine):
    with engine.connect() as conn:
        user = conn.execute(text("SELECT user_id FROM sessions WHERE user_id IS NOT NULL ORDER BY user_id "
                                 "LIMIT 1")).scalar_one()
        n_sessions = conn.execute(select(func.count()).select_from(sessions).where(sessions.c.user_id == user)
                                  ).scalar_one()
    r = server.request("POST", f"{P}/admin/delete-person", {"user_id": user}, RH)
    assert r.status == 403
    r = server.request("POST", f"{P}/admin/delete-person", {"user_id": user}, AH)
    assert r.status == 200 and r.json()["deleted"]["sessions"] == n_sessions
    assert r.json()["total"] == sum(r.json()["deleted"].values())
    with engine.connect() as conn:
        for table, col in ((analytics_events, "user_id"), (assessments, "user_id"), (sessions, "user_id"),
                           (ab_assignments, "unit_id")):
            assert conn.execute(select(func.count()).select_from(table).where(table.c[col] == user)).scalar_one() == 0


def test_ingest_stores_pseudonyms_no_emails_no_ip(server, engine):
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat()
    events = {"batch": [
        {"event_type": "lead_captured", "session_id": "ip-s1", "user_id": "jane.doe@example.com", "timestamp": now,
         "event_id": "ip-e1", "event_data": {"lead_source": "calculator", "email_consent": True,
                                             "note": "write to jane.doe@example.com"}},
        {"event_type": "ai_calculator_opened", "session_id": "ip-s1", "timestamp": now, "event_id": "ip-e2",
         "event_data": {"country": "DE", "region": "Berlin"}},
    ]}
    r = server.request("POST", f"{P}/event", events, {"X-Forwarded-For": "203.0.113.9"})
    assert r.json()["accepted"] == 2
    expected = "p_" + hmac.new(PSEUDO_KEY.encode(), b"jane.doe@example.com", hashlib.sha256).hexdigest()
    deadline = time.monotonic() + 10
    row = None
    while row is None and time.monotonic() < deadline:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT user_id, event_data FROM analytics_events WHERE event_id = 'ip-e1'")
                               ).first()
        time.sleep(0.05)
    assert row[0] == expected
    with engine.connect() as conn:
        assert conn.execute(text("SELECT user_id FROM sessions WHERE session_id = 'ip-s1'")).scalar() == expected
        dump = "\n".join(str(tuple(r)) for t in metadata.sorted_tables for r in conn.execute(select(t)).all()
                         if t.name in ("analytics_events", "sessions", "assessments", "event_keys"))
    assert "example.com" not in dump and "[email]" in dump
    for ip in ("127.0.0.1", "203.0.113.9"):
        assert ip not in dump
    columns = [c.name for t in metadata.sorted_tables for c in t.columns]
    assert not [c for c in columns if "ip" in c.split("_") or "addr" in c]
    # assignment at the variant endpoint is keyed on the same pseudonym as the events
    r = server.request("GET", f"{P}/ab-testing/demo-pricing-offers/variant?user_id=jane.doe%40example.com")
    assert r.json()["unit_id"] == expected
