"""GA4 reconciliation: the real google-analytics-data client over REST, pointed at a local server answering
recorded-shape ``runReport`` responses; our counts from a real database."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from statsmodels.stats.proportion import proportion_confint

pytest.importorskip("google.analytics.data_v1beta")
from google.auth.credentials import AnonymousCredentials  # noqa: E402

from analytics.errors import InvalidParameterError  # noqa: E402
from analytics.events import validate_event  # noqa: E402
from analytics.ga4 import fetch_ga4_counts, ga4_client, our_counts, reconcile, reconcile_ga4  # noqa: E402
from analytics.storage import write_events  # noqa: E402

PROPERTY = "123456789"
# (date, eventName, sessionSource, eventCount) as GA4 returns them
GA4_ROWS = [
    ("20260301", "ai_calculator_opened", "google", "8"),
    ("20260301", "calculator_step_completed", "google", "12"),
    ("20260301", "ai_calculator_opened", "(direct)", "5"),
    ("20260302", "paid_upgrade_clicked", "(not set)", "2"),
]


class FakeGA4:
    """Answers ``POST /v1beta/properties/{id}:runReport`` like the Data API, honouring limit and offset."""

    def __init__(self, rows=GA4_ROWS, time_zone: str = "Etc/GMT") -> None:
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                fake.requests.append({"path": self.path, "body": body})
                if self.path.split("?")[0] != f"/v1beta/properties/{PROPERTY}:runReport":
                    self._send(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
                    return
                offset, limit = int(body.get("offset", 0)), int(body.get("limit", 10000))
                page = rows[offset : offset + limit]
                answer = {
                    "dimensionHeaders": [{"name": "date"}, {"name": "eventName"}, {"name": "sessionSource"}],
                    "metricHeaders": [{"name": "eventCount", "type": "TYPE_INTEGER"}],
                    "rowCount": len(rows),
                    "metadata": {"currencyCode": "USD", "timeZone": time_zone},
                    "kind": "analyticsData#runReport",
                }
                if page:
                    answer["rows"] = [
                        {"dimensionValues": [{"value": d}, {"value": n}, {"value": s}], "metricValues": [{"value": c}]}
                        for d, n, s, c in page
                    ]
                self._send(200, answer)

            def _send(self, status: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self):
        return ga4_client(credentials=AnonymousCredentials(), endpoint=self.endpoint)


@pytest.fixture
def fake_ga4() -> Iterator[FakeGA4]:
    fake = FakeGA4()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _store(engine, day: str, event_type: str, source: str | None, n: int, data: dict | None = None) -> None:
    base = datetime.fromisoformat(day) + timedelta(hours=10)
    events = []
    for i in range(n):
        d = dict(data or {})
        if source:
            d["source"] = source
        raw = {"event_type": event_type, "session_id": f"s-{day}-{event_type}-{source}-{i}",
               "event_id": f"{day}-{event_type}-{source}-{i}", "timestamp": (base + timedelta(minutes=i)).isoformat(),
               "event_data": d}
        events.append(validate_event(raw, now=datetime(2026, 3, 10)))
    write_events(engine, events)


@pytest.fixture
def stored(engine):
    _store(engine, "2026-03-01", "ai_calculator_opened", "google", 10)
    _store(engine, "2026-03-01", "calculator_step_completed", "google", 20, {"step": 1, "seconds_on_step": 3})
    _store(engine, "2026-03-01", "ai_calculator_opened", "(direct)", 5)
    _store(engine, "2026-03-02", "ai_calculator_opened", "newsletter", 4)
    _store(engine, "2026-03-02", "page_load_timing", "google", 7, {"load_time_ms": 100})  # not a seed event
    _store(engine, "2026-03-03", "ai_calculator_opened", "google", 3)  # outside the period
    return engine


def test_our_counts_by_utc_day_event_and_source(stored):
    frame = our_counts("2026-03-01", "2026-03-02", stored)
    assert frame.to_dict("records") == [
        {"date": date(2026, 3, 1), "event_name": "ai_calculator_opened", "source": "(direct)", "ours": 5},
        {"date": date(2026, 3, 1), "event_name": "ai_calculator_opened", "source": "google", "ours": 10},
        {"date": date(2026, 3, 1), "event_name": "calculator_step_completed", "source": "google", "ours": 20},
        {"date": date(2026, 3, 2), "event_name": "ai_calculator_opened", "source": "newsletter", "ours": 4},
    ]
    assert our_counts("2026-04-01", "2026-04-02", stored).empty


def test_fetch_pages_through_run_report_with_the_real_client(fake_ga4):
    frame, tz = fetch_ga4_counts(fake_ga4.client(), PROPERTY, "2026-03-01", "2026-03-02", page_size=3)
    assert tz == "Etc/GMT"
    assert [int(r["body"]["offset"]) if "offset" in r["body"] else 0 for r in fake_ga4.requests] == [0, 3]
    body = fake_ga4.requests[0]["body"]
    assert body["dateRanges"] == [{"startDate": "2026-03-01", "endDate": "2026-03-02"}]
    assert [d["name"] for d in body["dimensions"]] == ["date", "eventName", "sessionSource"]
    assert body["metrics"] == [{"name": "eventCount"}]
    assert body["dimensionFilter"]["filter"]["fieldName"] == "eventName"
    assert body["dimensionFilter"]["filter"]["inListFilter"]["values"] == [
        "ai_calculator_opened", "calculator_step_completed", "assessment_submitted", "conversion_offer_viewed",
        "paid_upgrade_clicked"]
    assert frame.to_dict("records") == [
        {"date": date(2026, 3, 1), "event_name": "ai_calculator_opened", "source": "(direct)", "ga4": 5},
        {"date": date(2026, 3, 1), "event_name": "ai_calculator_opened", "source": "google", "ga4": 8},
        {"date": date(2026, 3, 1), "event_name": "calculator_step_completed", "source": "google", "ga4": 12},
        {"date": date(2026, 3, 2), "event_name": "paid_upgrade_clicked", "source": "(not set)", "ga4": 2},
    ]


def test_reconcile_end_to_end_flags_cells_and_days(stored, fake_ga4):
    result = reconcile_ga4("2026-03-01", "2026-03-02", stored, tolerance=0.2, property_id=PROPERTY,
                           client=fake_ga4.client(), env={})
    assert not result.skipped and result.reason is None and result.notes == []
    cells = result.cells.set_index(["date", "event_name", "source"])
    expect = {  # (ours, ga4, flagged): gap share = |ours - ga4| / ours against 0.2
        (date(2026, 3, 1), "ai_calculator_opened", "(direct)"): (5, 5, False),
        (date(2026, 3, 1), "ai_calculator_opened", "google"): (10, 8, False),  # exactly 0.2 is not beyond
        (date(2026, 3, 1), "calculator_step_completed", "google"): (20, 12, True),  # 0.4
        (date(2026, 3, 2), "ai_calculator_opened", "newsletter"): (4, 0, True),  # GA4 saw none
        (date(2026, 3, 2), "paid_upgrade_clicked", "(not set)"): (0, 2, True),  # GA4 only
    }
    assert {k: (int(r.ours), int(r.ga4), bool(r.flagged)) for k, r in cells.iterrows()} == expect
    row = cells.loc[(date(2026, 3, 1), "calculator_step_completed", "google")]
    lo, hi = proportion_confint(12, 20, alpha=0.05, method="wilson")
    assert row.capture_rate == 0.6 and row.gap_share == 0.4 and row.difference == 8
    assert math.isclose(row.capture_low, lo, rel_tol=1e-12) and math.isclose(row.capture_high, hi, rel_tol=1e-12)
    ga4_only = cells.loc[(date(2026, 3, 2), "paid_upgrade_clicked", "(not set)")]
    assert math.isnan(ga4_only.capture_rate) and ga4_only.note == "GA4 has events we did not store"
    days = result.days.set_index("date")
    assert days["ours"].to_dict() == {date(2026, 3, 1): 35, date(2026, 3, 2): 4}
    assert days["ga4"].to_dict() == {date(2026, 3, 1): 25, date(2026, 3, 2): 2}
    assert days.loc[date(2026, 3, 1), "gap_share"] == pytest.approx(10 / 35, rel=1e-15)
    assert result.flagged_days == [date(2026, 3, 1), date(2026, 3, 2)]
    loose = reconcile_ga4("2026-03-01", "2026-03-02", stored, tolerance=0.5, property_id=PROPERTY,
                          client=fake_ga4.client(), env={})
    assert loose.flagged_days == []  # day 2: 2 of 4 is a gap of exactly 0.5


def test_more_in_ga4_than_stored_has_no_interval_and_says_why():
    import pandas as pd

    ours = pd.DataFrame([{"date": date(2026, 3, 1), "event_name": "ai_calculator_opened", "source": "x", "ours": 3}])
    ga4 = pd.DataFrame([{"date": date(2026, 3, 1), "event_name": "ai_calculator_opened", "source": "x", "ga4": 5}])
    row = reconcile(ours, ga4, tolerance=0.5).cells.iloc[0]
    assert row.capture_rate == 5 / 3 and math.isnan(row.capture_low) and bool(row.flagged)
    assert row.note == "GA4 counts more than we stored (lost events or different day boundaries)"


def test_time_zone_other_than_utc_is_noted(stored):
    fake = FakeGA4(time_zone="America/New_York")
    try:
        result = reconcile_ga4("2026-03-01", "2026-03-02", stored, property_id=PROPERTY, client=fake.client(), env={})
    finally:
        fake.server.shutdown()
        fake.server.server_close()
    assert result.notes == ["GA4 reports days in America/New_York; our counts use UTC days, so day totals can shift"]


def test_without_configuration_it_says_so_and_skips(tmp_path, stored):
    r = reconcile_ga4("2026-03-01", "2026-03-02", stored, env={})
    assert r.skipped and r.reason == "GA4 reconciliation skipped: GA4_PROPERTY_ID is not set"
    assert r.cells.empty and r.days.empty and r.flagged_days == []
    r = reconcile_ga4("2026-03-01", "2026-03-02", stored, env={"GA4_PROPERTY_ID": PROPERTY})
    assert r.reason == "GA4 reconciliation skipped: GA4_CREDENTIALS_PATH is not set (no credentials)"
    missing = tmp_path / "nope.json"
    r = reconcile_ga4("2026-03-01", "2026-03-02", stored,
                      env={"GA4_PROPERTY_ID": PROPERTY, "GA4_CREDENTIALS_PATH": str(missing)})
    assert r.reason == f"GA4 reconciliation skipped: GA4_CREDENTIALS_PATH points to no file (got {missing})"


def test_bad_parameters_name_what_was_expected():
    import pandas as pd

    empty = pd.DataFrame(columns=["date", "event_name", "source", "ours"])
    with pytest.raises(InvalidParameterError) as err:
        reconcile(empty, empty.rename(columns={"ours": "ga4"}), tolerance=0)
    assert str(err.value) == "'tolerance' must be in (0, 1] (got 0)"
    with pytest.raises(InvalidParameterError) as err:
        reconcile_ga4("2026-03-02", "2026-03-01", env={})
    assert str(err.value) == "'end_date' must not be before 'start_date' (got end_date=2026-03-01, start_date=2026-03-02)"


def test_skipped_result_has_typed_empty_frames():
    r = reconcile_ga4("2026-03-01", "2026-03-02", env={})
    assert r.days["flagged"].dtype == bool and r.days["capture_rate"].dtype == "float64"
    assert r.days[r.days["flagged"]].empty and list(r.days.columns)[:3] == ["date", "ours", "ga4"]
