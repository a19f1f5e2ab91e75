"""A full run of the sidecar with access and info logs on: the log holds no e-mail address, no raw user id, no
API key, pseudonym key or bearer token, and no client IP address."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from test_api_http import ADMIN, AH, ENV, PSEUDO_KEY, READ, RH, copy_demo

from ingest_service.testing import Server

P = "/api/analytics"
EMAIL, RAW_USER, WRITE_KEY = "mary.major@example.org", "calc-user-77123", "write-key-5550001"


def test_logs_of_a_full_run_hold_no_sensitive_values(demo_engine, tmp_path):
    url = copy_demo(demo_engine, tmp_path / "logs.db")
    env = {**ENV, "INGEST_ACCESS_LOG": "-", "INGEST_LOG_LEVEL": "info", "INGEST_API_KEYS": WRITE_KEY}
    srv = Server(url, env, threads=4).start()
    try:
        now = datetime.now(UTC).isoformat()
        batch = {"batch": [
            {"event_type": "lead_captured", "session_id": "log-s1", "user_id": EMAIL, "timestamp": now,
             "event_data": {"lead_source": "calculator", "email_consent": True, "note": f"contact {EMAIL}"}},
            {"event_type": "assessment_submitted", "session_id": "log-s1", "user_id": RAW_USER, "timestamp": now,
             "event_data": {"job_title": "Nurse", "industry": "Health", "risk_level": "low"}},
        ]}
        assert srv.request("POST", f"{P}/event?api_key={WRITE_KEY}", batch).json()["accepted"] == 2
        assert srv.request("POST", f"{P}/event", batch, {"X-API-Key": "wrong-" + WRITE_KEY}).status == 401
        assert srv.request("GET", f"{P}/ab-testing/demo-pricing-offers/variant?user_id={RAW_USER}").status == 200
        assert srv.request("GET", f"{P}/dashboard/funnel", headers=RH).status == 200
        assert srv.request("GET", f"{P}/dashboard/funnel", headers={"Authorization": f"Bearer {READ}x"}).status == 401
        assert srv.request("POST", f"{P}/performance/start-monitoring", None, RH).status == 403
        assert srv.request("POST", f"{P}/admin/delete-person", {"user_id": EMAIL}, AH).status == 200
        assert srv.request("POST", f"{P}/admin/delete-person", {"user_id": RAW_USER}, AH).status == 200
        assert srv.request("GET", f"{P}/dashboard/funnel?start_date={EMAIL}", headers=RH).status == 400
    finally:
        srv.stop()
    log = srv.log_path.read_text(errors="replace")
    assert '"GET /api/analytics/dashboard/funnel HTTP/1.1" 200' in log  # the access log was on
    for secret in (EMAIL, "example.org", RAW_USER, READ, ADMIN, PSEUDO_KEY, WRITE_KEY):
        assert secret not in log, secret
    assert not re.search(r"(?i)bearer\s+(?!\[redacted\])", log)
    client_lines = [line for line in log.splitlines() if "Listening at" not in line]
    assert not [line for line in client_lines if "127.0.0.1" in line]
    assert "user_id=[redacted]" in log and "api_key=[redacted]" in log
