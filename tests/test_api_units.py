"""The API's building blocks in process: settings, parameter parsing, the answer cache, JSON conversion."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from analytics.errors import ConfigError
from ingest_service.api.cache import AnswerCache
from ingest_service.api.jsonable import dumps, to_jsonable
from ingest_service.api.params import ParameterError, check_range, date_param, number, whole
from ingest_service.api.settings import ApiSettings


def test_settings_from_env():
    s = ApiSettings.from_env({"ANALYTICS_READ_KEYS": " r1, r2 ,", "ANALYTICS_ADMIN_KEYS": "a1",
                              "ANALYTICS_API_CACHE_SECONDS": "900", "ANALYTICS_API_MAX_RANGE_DAYS": "30"})
    assert (s.read_keys, s.admin_keys, s.cache_seconds, s.max_range_days) == (("r1", "r2"), ("a1",), 900, 30)
    assert ApiSettings.from_env({}) == ApiSettings((), (), 300, 366, None)
    assert ApiSettings.from_env({"ANALYTICS_API_CACHE_SECONDS": "0"}).cache_seconds == 0


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("ANALYTICS_API_CACHE_SECONDS", "60",
     "ANALYTICS_API_CACHE_SECONDS must be 0 (off) or a number of seconds from 300 to 900 (got '60')"),
    ("ANALYTICS_API_CACHE_SECONDS", "1000",
     "ANALYTICS_API_CACHE_SECONDS must be 0 (off) or a number of seconds from 300 to 900 (got '1000')"),
    ("ANALYTICS_API_MAX_RANGE_DAYS", "x", "ANALYTICS_API_MAX_RANGE_DAYS must be an integer >= 1 (got 'x')"),
])
def test_settings_errors_name_the_variable(name, raw, message):
    with pytest.raises(ConfigError) as err:
        ApiSettings.from_env({name: raw})
    assert str(err.value) == message


def test_date_param_accepts_dates_and_times_in_utc():
    assert date_param("d", "2026-03-01") == datetime(2026, 3, 1)
    assert date_param("d", "2026-03-01T10:00:00+02:00") == datetime(2026, 3, 1, 8)
    assert date_param("d", "2026-03-01T10:00:00Z") == datetime(2026, 3, 1, 10)


def test_numbers_and_ranges():
    assert whole(1, 5)("n", "5") == 5
    assert number(0, 1, low_open=True)("x", "1e-3") == 0.001
    for raw in ("0", "inf", "1.5", ""):
        with pytest.raises(ParameterError):
            number(0, 1, low_open=True)("x", raw)
    check_range({"start_date": datetime(2026, 1, 1), "end_date": datetime(2026, 1, 31)}, 30)
    with pytest.raises(ParameterError) as err:
        check_range({"start_date": datetime(2026, 1, 1)}, 30, now=datetime(2026, 3, 1, 12))
    assert (err.value.parameter, err.value.description) == (
        "start_date", "the range from 'start_date' to now must be at most 30 days (got 59.5 days)")


def test_cache_expires_and_evicts():
    now = [0.0]
    cache = AnswerCache(300, max_entries=2, clock=lambda: now[0])
    calls = []

    def make(v):
        return lambda: calls.append(v) or v

    assert cache.get_or_compute("a", make(b"1")) == (b"1", False, 0.0)
    now[0] = 299.0
    assert cache.get_or_compute("a", make(b"2")) == (b"1", True, 299.0)
    now[0] = 300.0
    assert cache.get_or_compute("a", make(b"3")) == (b"3", False, 0.0)
    cache.get_or_compute("b", make(b"b"))
    cache.get_or_compute("c", make(b"c"))  # evicts the least recently used: "a"
    assert cache.get_or_compute("a", make(b"4"))[1] is False
    assert calls == [b"1", b"3", b"b", b"c", b"4"]
    cache.clear()
    assert cache.get_or_compute("c", make(b"5")) == (b"5", False, 0.0)
    assert AnswerCache(0).get_or_compute("x", make(b"6")) == (b"6", False, 0.0)


def test_cache_computes_a_missing_entry_once_for_concurrent_requests():
    cache = AnswerCache(300)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return b"v"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow)[0])) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(calls), results) == (1, [b"v"] * 8)


def test_jsonable():
    frame = pd.DataFrame({"a": [1, np.nan], "t": pd.to_datetime(["2026-01-01", None])})
    assert to_jsonable(frame) == [{"a": 1.0, "t": "2026-01-01T00:00:00"}, {"a": None, "t": None}]
    assert dumps({"x": np.int64(3), "y": float("inf"), "z": (np.bool_(True),)}) == b'{"x":3,"y":null,"z":[true]}'
