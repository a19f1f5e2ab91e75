"""Per-bucket series (SQL) against numpy/statsmodels, and the performance charts built from them."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analytics.alerts import read_alert_log
from analytics.charts.performance import (
    alerts_chart,
    error_rate_chart,
    health_chart,
    load_time_chart,
    slow_queries_chart,
)
from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.performance import (
    error_rate_series,
    event_count_series,
    latency_series,
    latency_stats,
    wilson_rate,
)
from analytics.performance.sql_latency import bucket_expression
from analytics.storage import write_events

START = datetime(2026, 3, 10, 0, 0)


def _ev(event_type, session, at, **data):
    return validate_event({"event_type": event_type, "session_id": session, "timestamp": at.isoformat(),
                           "event_data": data}, now=START + timedelta(days=2))


@pytest.fixture
def hourly(engine):
    rng = np.random.default_rng(3)
    hour0 = rng.lognormal(7, 0.4, 40).round(1)
    hour2 = rng.lognormal(7.5, 0.4, 25).round(1)
    events = [_ev("page_load_timing", f"a{i}", START + timedelta(minutes=i), load_time_ms=float(v))
              for i, v in enumerate(hour0)]
    events += [_ev("page_load_timing", f"b{i}", START + timedelta(hours=2, minutes=i), load_time_ms=float(v))
               for i, v in enumerate(hour2)]
    events += [_ev("client_error", f"a{i}", START + timedelta(minutes=50), message="x") for i in range(3)]
    events += [_ev("email_sent", f"m{i}", START + timedelta(hours=1), email_type="w") for i in range(4)]
    write_events(engine, events)
    return engine, hour0, hour2


def test_latency_series_by_hour(hourly):
    engine, hour0, hour2 = hourly
    df = latency_series(engine, START, START + timedelta(days=1))
    assert df["bucket"].tolist() == [pd.Timestamp("2026-03-10 00:00", tz="UTC"),
                                     pd.Timestamp("2026-03-10 02:00", tz="UTC")]
    assert df["count"].tolist() == [40, 25]
    for row, values in zip(df.itertuples(), (hour0, hour2), strict=True):
        assert row.p50 == pytest.approx(np.percentile(values, 50), rel=1e-12)
        assert row.p95 == pytest.approx(np.percentile(values, 95), rel=1e-12)
        assert row.p99 == pytest.approx(np.percentile(values, 99), rel=1e-12)
        ref = latency_stats(list(values)).p95
        assert row.p95_low == ref.ci_low
        assert (np.isnan(row.p95_high) and ref.ci_high is None) or row.p95_high == ref.ci_high


def test_error_rate_and_counts_series(hourly):
    engine, _, _ = hourly
    df = error_rate_series(engine, START, START + timedelta(days=1))
    assert df[["sessions", "error_sessions"]].values.tolist() == [[40, 3], [4, 0], [25, 0]]
    lo, hi = proportion_confint(3, 40, method="wilson")
    assert df["rate"].iloc[0] == 3 / 40
    assert df["ci_low"].iloc[0] == pytest.approx(lo) and df["ci_high"].iloc[0] == pytest.approx(hi)
    daily = event_count_series(engine, START, START + timedelta(days=1), ("email_sent", "client_error"))
    assert daily[["event_type", "count"]].values.tolist() == [["client_error", 3], ["email_sent", 4]]
    assert str(daily["bucket"].dt.tz) == "UTC"


def test_bad_freq(sqlite_engine):
    with sqlite_engine.connect() as conn, pytest.raises(InvalidParameterError) as exc:
        bucket_expression(conn, "week")
    assert str(exc.value) == "'freq' must be one of 'hour', 'day' (got freq='week')"


def test_empty_series_and_charts(sqlite_engine):
    empty = latency_series(sqlite_engine, START, START + timedelta(days=1))
    assert empty.empty and list(empty.columns) == ["bucket", "count", "p50", "p95", "p99", "p95_low",
                                                   "p95_high"]
    fig = load_time_chart(empty)
    assert fig.layout.annotations[0].text == "no page_load_timing events in the period"
    assert error_rate_chart(error_rate_series(sqlite_engine, START, START + timedelta(days=1))).layout.annotations
    assert slow_queries_chart({}).layout.annotations[0].text == "no database query timings kept in this process"
    log = read_alert_log(sqlite_engine, START, START + timedelta(days=1))
    assert alerts_chart(log).layout.annotations[0].text == "no alerts were sent in the period"
    fig = health_chart({"delivery_rate": wilson_rate(0, 0)})
    assert fig.layout.annotations[0].text == "delivery_rate: denominator is 0"


def test_charts_with_data(hourly):
    engine, _, _ = hourly
    fig = load_time_chart(latency_series(engine, START, START + timedelta(days=1)))
    assert [t.name for t in fig.data][2:] == ["p50", "p95", "p99"]
    assert fig.layout.shapes[0].y0 == 3000
    fig = error_rate_chart(error_rate_series(engine, START, START + timedelta(days=1)))
    assert fig.layout.shapes[0].y0 == 0.05 and list(fig.data[0].y) == [3 / 40, 0.0, 0.0]
    fig = slow_queries_chart({"q": latency_stats([10.0, 2000.0, 30.0])})
    assert list(fig.data[0].y) == ["q"] and fig.layout.shapes[0].x0 == 1000
    fig = health_chart({"delivery_rate": wilson_rate(9, 10), "open_rate": wilson_rate(0, 0)})
    assert list(fig.data[0].x) == ["delivery_rate"]
    assert fig.layout.title.text == "Email and payment health — not shown: open_rate: denominator is 0"
    log = pd.DataFrame({"sent_at": pd.to_datetime(["2026-03-10 01:00"]).tz_localize("UTC"), "rule": ["r"],
                        "kind": ["firing"], "channel": ["slack"], "ok": [False]})
    assert alerts_chart(log).data[0].marker.symbol == ("circle-open",)
