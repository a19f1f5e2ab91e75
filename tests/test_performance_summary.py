"""get_performance_summary: SQL-side quantiles and rates over events, plus kept timings, vs numpy/statsmodels."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.performance import Metrics, PerformanceMonitor, TimingRecord
from analytics.storage import write_events

NOW = datetime(2026, 3, 10, 12, 0, 0)
EPOCH = datetime(1970, 1, 1)


def _ev(event_type, session, at, **data):
    return validate_event({"event_type": event_type, "session_id": session, "timestamp": at.isoformat(),
                           "event_data": data}, now=NOW)


@pytest.fixture
def loaded(engine):
    rng = np.random.default_rng(7)
    loads = rng.lognormal(7, 0.5, 300).round(1)
    steps = {1: rng.lognormal(4, 0.3, 40).round(2), 2: rng.lognormal(5, 0.3, 25).round(2)}
    events = []
    for i, ms in enumerate(loads):
        events.append(_ev("page_load_timing", f"s{i}", NOW - timedelta(minutes=i + 1), load_time_ms=float(ms)))
    for step, values in steps.items():
        for i, ms in enumerate(values):
            events.append(_ev("step_load_timing", f"s{i}", NOW - timedelta(minutes=i + 2), step=step,
                              load_time_ms=float(ms)))
    for i in range(12):  # 12 distinct sessions with an error (s0..s11), one of them twice
        events.append(_ev("client_error", f"s{i}", NOW - timedelta(minutes=3), message="boom"))
    events.append(_ev("client_error", "s0", NOW - timedelta(minutes=4), message="again"))
    for kind, count in (("email_sent", 50), ("email_delivered", 46), ("email_opened", 19), ("email_bounced", 4)):
        events += [_ev(kind, f"e{i}", NOW - timedelta(hours=2), email_type="weekly") for i in range(count)]
    proc_ok = [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0]
    events += [_ev("payment_succeeded", f"p{i}", NOW - timedelta(hours=1), plan="basic", amount=49.99,
                   processing_time_ms=ms) for i, ms in enumerate(proc_ok)]
    events += [_ev("payment_failed", f"f{i}", NOW - timedelta(hours=1), plan="basic", amount=49.99,
                   processing_time_ms=1500.0) for i in range(2)]
    # outside the 24 h window: must be ignored
    events.append(_ev("page_load_timing", "old", NOW - timedelta(hours=30), load_time_ms=99999.0))
    events.append(_ev("page_load_timing", "late", NOW, load_time_ms=88888.0))  # end is exclusive
    write_events(engine, events)
    return engine, loads, steps, proc_ok


def test_summary_from_events(loaded):
    engine, loads, steps, proc_ok = loaded
    mon = PerformanceMonitor(metrics=Metrics("127.0.0.1", 9))
    s = mon.get_performance_summary(hours=24, engine=engine, now=NOW)
    assert (s.start, s.end) == (NOW - timedelta(hours=24), NOW)
    assert s.page_load.count == 300
    assert s.page_load.mean == pytest.approx(loads.mean(), rel=1e-9)
    assert s.page_load.max == loads.max()
    for q, p in ((s.page_load.p50, 50), (s.page_load.p95, 95), (s.page_load.p99, 99)):
        assert q.value == pytest.approx(np.percentile(loads, p), rel=1e-12)
    ordered = np.sort(loads)
    # p95, n=300: r = binom.ppf(.025, 300, .95) = 277, s = binom.ppf(.975) + 1 = 293 (1-based order stats)
    assert s.page_load.p95.ci_low == ordered[277 - 1] and s.page_load.p95.ci_high == ordered[293 - 1]
    assert sorted(s.step_load) == [1, 2]
    for step, values in steps.items():
        assert s.step_load[step].count == len(values)
        assert s.step_load[step].p95.value == pytest.approx(np.percentile(values, 95), rel=1e-12)
    # sessions in window: s0..s299 (page loads) + e0..e49 + p0..p7 + f0..f1 = 360; 12 with errors
    assert (s.client_error_rate.numerator, s.client_error_rate.denominator) == (12, 360)
    lo, hi = proportion_confint(12, 360, method="wilson")
    assert s.client_error_rate.ci_low == pytest.approx(lo) and s.client_error_rate.ci_high == pytest.approx(hi)
    assert s.email["delivery_rate"].value == 46 / 50
    assert s.email["open_rate"].value == 19 / 46
    assert s.email["bounce_rate"].value == 4 / 50
    assert s.payment_success_rate.value == 8 / 10
    assert s.payment_processing["succeeded"].p50.value == pytest.approx(np.percentile(proc_ok, 50))
    assert s.payment_processing["failed"].count == 2
    assert s.counts["client_error"] == 13 and s.counts["page_load_timing"] == 300
    assert s.notes == []
    d = s.as_dict()
    assert d["end"] == "2026-03-10T12:00:00" and d["page_load"]["p95"]["value"] == s.page_load.p95.value


def test_summary_kept_timings(engine):
    mon = PerformanceMonitor(metrics=Metrics("127.0.0.1", 9), slow_query_ms=1000)
    at = (NOW - EPOCH).total_seconds() - 60
    for ms in (10.0, 20.0, 30.0, 1500.0):
        mon.timings.add(TimingRecord(at, "db_query", "get_user_data", ms))
    mon.timings.add(TimingRecord(at - 2 * 86400, "db_query", "get_user_data", 5000.0))  # outside window
    for i, status in enumerate([200] * 18 + [500, 503]):
        mon.timings.add(TimingRecord(at, "api", "POST /e", float(i + 1), status < 500))
    s = mon.get_performance_summary(hours=24, engine=engine, now=NOW)
    q = s.database_queries["get_user_data"]
    assert q.count == 4 and q.p50.value == pytest.approx(np.percentile([10, 20, 30, 1500], 50))
    assert s.slow_queries == {"get_user_data": 1}
    assert (s.api_error_rate.numerator, s.api_error_rate.denominator) == (2, 20)
    assert s.api_response.p95.value == pytest.approx(np.percentile(np.arange(1, 21), 95))
    assert s.calculator_load.reason == "no observations"
    assert s.page_load.reason == "no observations"
    assert s.client_error_rate.reason == "denominator is 0"


def test_email_counts_straddling_window_give_reason(engine):
    write_events(engine, [_ev("email_delivered", "e1", NOW - timedelta(hours=1), email_type="w")])
    s = PerformanceMonitor(metrics=Metrics("127.0.0.1", 9)).get_performance_summary(1, engine, NOW)
    assert s.email["delivery_rate"].reason == "numerator exceeds denominator"
    assert s.notes == ["email delivery rate: numerator 1 exceeds denominator 0 in the window "
                       "(events straddle its edges)"]


@pytest.mark.parametrize("hours", [0, -1, "24", True])
def test_bad_hours(sqlite_engine, hours):
    mon = PerformanceMonitor(metrics=Metrics("127.0.0.1", 9))
    with pytest.raises(InvalidParameterError) as exc:
        mon.get_performance_summary(hours=hours, engine=sqlite_engine)
    assert str(exc.value) == f"'hours' must be a positive number (got hours={hours!r})"
