"""In-process checks of the sidecar's parts: configuration, clock-skew rule, body parsing, token bucket, writer."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import falcon
import falcon.testing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from analytics.db import get_engine
from analytics.errors import ConfigError
from ingest_service.body import _gunzip, parse_json
from ingest_service.config import Config
from ingest_service.ingest import clock_offset, extract_events, validate_request
from ingest_service.middleware import RateLimitMiddleware, TokenBucket
from ingest_service.writer import DatabaseUnavailable, GroupWriter, QueueFull

NOW = datetime(2026, 11, 25, 12, 0, 0)


# --- configuration ----------------------------------------------------------------------------------------------
def test_config_defaults_and_parsing():
    cfg = Config.from_env({"DATABASE_URL": "sqlite:////tmp/x.db", "INGEST_ALLOWED_ORIGINS": " https://a.io, HTTPS://B.io:8443/ ,",
                           "INGEST_MAX_AGE_DAYS": "3", "INGEST_QUEUE_EVENTS": "100"})
    assert cfg.database_url == "sqlite:////tmp/x.db"
    assert cfg.allowed_origins == ("https://a.io", "https://b.io:8443")
    assert cfg.max_age == timedelta(days=3)
    assert (cfg.queue_events, cfg.ready_events) == (100, 50)
    assert (cfg.max_batch, cfg.max_future, cfg.skew_threshold) == (500, timedelta(minutes=5), timedelta(seconds=30))
    assert cfg.wal_autocheckpoint is None  # the writer's WAL_CHECKPOINT_BYTES at the file's page size
    assert Config.from_env({"INGEST_WAL_AUTOCHECKPOINT": "2500"}).wal_autocheckpoint == 2500
    assert cfg.sqlite_cache_mb == 128
    assert Config.from_env({"INGEST_SQLITE_CACHE_MB": "16"}).sqlite_cache_mb == 16
    assert cfg.trust_forwarded == 0
    assert cfg.migrate is True and Config.from_env({"INGEST_MIGRATE": "No"}).migrate is False
    assert [Config.from_env({"INGEST_TRUST_FORWARDED": v}).trust_forwarded for v in ("off", "TRUE", " yes", "2")] \
        == [0, 1, 1, 2]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("INGEST_MAX_BATCH", "0", "INGEST_MAX_BATCH must be an integer >= 1 (got '0')"),
    ("INGEST_MAX_BATCH", "ten", "INGEST_MAX_BATCH must be an integer >= 1 (got 'ten')"),
    ("INGEST_WRITE_TIMEOUT", "nan", "INGEST_WRITE_TIMEOUT must be a number >= 0.1 (got 'nan')"),
    ("INGEST_RATE_LIMIT", "-1", "INGEST_RATE_LIMIT must be a number >= 0 (got '-1')"),
    ("INGEST_WAL_AUTOCHECKPOINT", "0", "INGEST_WAL_AUTOCHECKPOINT must be an integer >= 100 (got '0')"),
    ("INGEST_SQLITE_CACHE_MB", "0", "INGEST_SQLITE_CACHE_MB must be an integer >= 1 (got '0')"),
    ("INGEST_MIGRATE", "maybe", "INGEST_MIGRATE must be one of 1, true, yes, 0, false, no (got 'maybe')"),
    ("INGEST_ALLOWED_ORIGINS", "https://a.io,calc.example.com",
     "INGEST_ALLOWED_ORIGINS must list origins as scheme://host[:port] (http or https, no path) or * (got "
     "'calc.example.com')"),
    ("INGEST_ALLOWED_ORIGINS", "https://calc.example.com/page.html",
     "INGEST_ALLOWED_ORIGINS must list origins as scheme://host[:port] (http or https, no path) or * (got "
     "'https://calc.example.com/page.html')"),
    ("INGEST_TRUST_FORWARDED", "maybe",
     "INGEST_TRUST_FORWARDED must be the number of trusted proxies (0, 1, 2, ...) or true/false (got 'maybe')"),
])
def test_config_errors_name_variable_expected_and_got(name, value, message):
    with pytest.raises(ConfigError) as err:
        Config.from_env({name: value})
    assert str(err.value) == message


# --- clock skew -------------------------------------------------------------------------------------------------
def test_clock_offset_threshold():
    thirty = timedelta(seconds=30)
    assert clock_offset(None, NOW, thirty) == timedelta(0)
    assert clock_offset("2026-11-25T11:59:40Z", NOW, thirty) == timedelta(0)  # 20 s: latency-sized
    assert clock_offset("2026-11-25T11:59:00Z", NOW, thirty) == timedelta(seconds=60)
    assert clock_offset("2026-11-25T14:00:00+02:00", NOW, thirty) == timedelta(0)  # same instant
    assert clock_offset(datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp(), NOW, thirty) == timedelta(hours=2)
    with pytest.raises(ValueError) as err:
        clock_offset("1990-01-01", NOW, thirty)
    assert str(err.value) == ("'sent_at' must be within 3650 days of the server's time "
                              "(got 1990-01-01T00:00:00Z, server 2026-11-25T12:00:00Z)")


def test_validate_request_corrects_and_windows():
    raws = [
        {"event_type": "ai_calculator_opened", "session_id": "s", "timestamp": "2026-11-25T10:00:00Z"},
        {"event_type": "ai_calculator_opened", "session_id": "s", "timestamp": "2026-11-17T09:00:00Z"},
    ]
    # client clock 2 hours behind: its 10:00 is the server's 12:00; its 9:00 eight days ago is too old anyway
    out = validate_request(raws, "2026-11-25T10:00:00Z", now=NOW, max_age=timedelta(days=7),
                           max_future=timedelta(minutes=5), skew_threshold=timedelta(seconds=30))
    assert [e.timestamp for e in out.events] == [datetime(2026, 11, 25, 12, 0, 0)]
    assert out.events[0].received_at == NOW
    assert out.corrected == 1
    assert [(r.index, r.field, r.code) for r in out.rejected] == [(1, "timestamp", "too_old")]


def test_extract_events_shapes():
    assert extract_events({"event_type": "x"}, 10) == ([{"event_type": "x"}], None)
    assert extract_events({"batch": [1, 2], "sent_at": 5}, 10) == ([1, 2], 5)
    assert extract_events([1], 10) == ([1], None)
    with pytest.raises(falcon.HTTPContentTooLarge):
        extract_events([1, 2, 3], 2)


# --- body parsing ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "code", "description"), [
    (b"\xef\xbb\xbf{", "malformed_json", "the body is not valid JSON: Expecting property name enclosed in double "
                                          "quotes at line 1 column 2"),
    (b'{"a": NaN}', "not_finite", "JSON numbers must be finite (got NaN)"),
    (b'{"a": "\\ud83d"}', "invalid_string",
     "strings must be valid Unicode (got a lone surrogate escape such as \\ud800)"),
    (b'{"\\u0000": 1}', "invalid_string", "strings must not contain the NUL character (\\u0000)"),
    (b"\xc3\x28", "invalid_utf8", "the body must be UTF-8 (invalid byte at offset 0)"),
])
def test_parse_json_errors(raw, code, description):
    with pytest.raises(falcon.HTTPBadRequest) as err:
        parse_json(raw)
    assert (err.value.code, err.value.description) == (code, description)


def test_parse_json_accepts_bom_and_surrogate_pairs():
    assert parse_json(b'\xef\xbb\xbf{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_gunzip_reads_every_member_and_refuses_trailing_data():
    import gzip

    assert _gunzip(gzip.compress(b"ab") + gzip.compress(b"") + gzip.compress(b"cd") + b"\x00\x00", 10) == b"abcd"
    with pytest.raises(falcon.HTTPBadRequest) as err:
        _gunzip(gzip.compress(b"ab") + b"xyz", 10)
    assert (err.value.code, err.value.description) == (
        "invalid_gzip", "the data after gzip member 1 is not gzip (Error -3 while decompressing data: incorrect header check)")
    with pytest.raises(falcon.HTTPBadRequest) as err:
        _gunzip(gzip.compress(b"ab") + gzip.compress(b"cd")[:-3], 10)
    assert (err.value.code, err.value.description) == ("invalid_gzip", "the gzip body is truncated")
    with pytest.raises(falcon.HTTPContentTooLarge) as err:  # the limit counts all members together
        _gunzip(gzip.compress(b"x" * 6) * 2, 10)
    assert err.value.description == "the decompressed body must be at most 10 bytes (got more)"
    assert _gunzip(gzip.compress(b"x" * 5) * 2, 10) == b"x" * 10


# --- token bucket ------------------------------------------------------------------------------------------------
def test_token_bucket_rate_and_burst():
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take("k", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("k", now=100.0) == pytest.approx(0.5)  # one token takes 1/rate seconds
    assert bucket.take("k", now=100.25) == pytest.approx(0.25)
    assert bucket.take("k", now=100.5) == 0.0
    assert bucket.take("other", now=100.5) == 0.0


def _client(env: dict, **settings) -> str:
    middleware = RateLimitMiddleware(Config(database_url="sqlite://", **settings))
    return middleware.client(falcon.Request(falcon.testing.create_environ(path="/x", **env)))


def test_rate_limit_client_is_the_address_and_a_configured_key_only():
    addr = {"remote_addr": "10.0.0.7"}
    assert _client({**addr, "headers": {"X-API-Key": "made-up"}}) == "10.0.0.7"
    assert _client({**addr, "headers": {"X-API-Key": "made-up"}}, api_keys=("k1",)) == "10.0.0.7"
    assert _client({**addr, "headers": {"X-API-Key": "k1"}}, api_keys=("k1",)) == "10.0.0.7|k1"
    assert _client({**addr, "query_string": "api_key=k1"}, api_keys=("k1",)) == "10.0.0.7|k1"
    # X-Forwarded-For: ignored unless trusted; then counted off from the right, one entry per trusted proxy
    xff = {**addr, "headers": {"X-Forwarded-For": "6.6.6.6, 1.2.3.4, 10.0.0.2"}}
    assert _client(xff) == "10.0.0.7"
    assert _client(xff, trust_forwarded=1) == "10.0.0.2"
    assert _client(xff, trust_forwarded=2) == "1.2.3.4"
    assert _client(xff, trust_forwarded=5) == "6.6.6.6"


# --- the group writer --------------------------------------------------------------------------------------------
def _until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def _sqlite_engine(tmp_path):
    return create_engine(f"sqlite:///{tmp_path / 'w.db'}")


def test_writer_groups_concurrent_jobs(tmp_path):
    engine = _sqlite_engine(tmp_path)
    gate = threading.Event()
    groups: list[list[int]] = []

    entered = threading.Event()

    def handler(conn, payloads):
        entered.set()
        gate.wait(5)
        groups.append(list(payloads))
        return [p * 10 for p in payloads]

    writer = GroupWriter(lambda: engine, {"n": handler}, write_timeout=5)
    results: dict[int, int] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, writer.submit("n", i))) for i in range(6)]
    threads[0].start()
    assert entered.wait(10)  # the first job is taken alone; the writer then blocks in the handler
    for t in threads[1:]:
        t.start()
    assert _until(lambda: writer.pending_events == 5)
    gate.set()
    for t in threads:
        t.join(10)
    assert results == {i: i * 10 for i in range(6)}
    assert [sorted(g) for g in groups] == [[0], [1, 2, 3, 4, 5]]  # one commit for the five waiting requests


def test_writer_queue_bound(tmp_path):
    writer = GroupWriter(lambda: _sqlite_engine(tmp_path), {"n": lambda c, p: p}, queue_events=3)
    with pytest.raises(QueueFull) as err:
        writer.submit("n", 1, size=4)
    assert str(err.value) == "0 events are waiting to be written (limit 3)"


def test_writer_database_unavailable_then_backoff(tmp_path):
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    writer = GroupWriter(lambda: engine, {"n": lambda c, p: p}, db_backoff=30)
    with pytest.raises(DatabaseUnavailable):
        writer.submit("n", 1)
    assert writer.database_down
    with pytest.raises(DatabaseUnavailable) as err:  # backing off: refused at once
        writer.submit("n", 2)
    assert str(err.value) == writer.last_error


def test_writer_writes_unwaited_jobs_again_after_an_outage(tmp_path):
    engine = _sqlite_engine(tmp_path)
    down, stored = [True], []

    def handler(conn, payloads):
        if down[0]:
            raise OperationalError("INSERT", {}, Exception("could not connect to server"))
        stored.extend(payloads)
        return payloads

    writer = GroupWriter(lambda: engine, {"n": handler}, db_backoff=0.3)
    assert writer.submit_nowait("n", "quiet")
    assert _until(lambda: writer.retry_pending == 1)
    with pytest.raises(DatabaseUnavailable) as err:  # a waited job is refused during the backoff, not kept
        writer.submit("n", "loud")
    assert str(err.value) == "could not connect to server"
    assert writer.submit_nowait("n", "later")  # an unwaited one is taken, and kept
    assert _until(lambda: writer.retry_pending == 2)
    down[0] = False
    assert _until(lambda: stored == ["quiet", "later"], timeout=5)  # written again without any new job arriving
    assert writer.retry_pending == 0
    engine.dispose()


def test_writer_queue_bound_does_not_refuse_unwaited_jobs(tmp_path):
    gate, stored = threading.Event(), []

    def handler(conn, payloads):
        gate.wait(5)
        stored.extend(payloads)
        return payloads

    engine = _sqlite_engine(tmp_path)
    writer = GroupWriter(lambda: engine, {"n": handler}, queue_events=3)
    assert writer.submit_nowait("n", "first")  # taken by the writer, which blocks in the handler
    assert _until(lambda: writer.pending_events == 0)
    assert writer.submit_nowait("n", "big", size=5)  # above the bound: queued all the same
    with pytest.raises(QueueFull) as err:
        writer.submit("n", "waited")
    assert str(err.value) == "5 events are waiting to be written (limit 3)"
    gate.set()
    assert _until(lambda: stored == ["first", "big"], timeout=5)
    engine.dispose()


def test_writer_sets_its_wal_checkpoint_interval_on_sqlite(tmp_path):
    engine = _sqlite_engine(tmp_path)
    pragma = lambda c, p: [c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()] * len(p)  # noqa: E731
    assert GroupWriter(lambda: engine, {"n": pragma}, wal_autocheckpoint=2500).submit("n", 1) == 2500
    assert GroupWriter(lambda: engine, {"n": pragma}).submit("n", 1) == 1000  # None: SQLite's default
    from ingest_service.writer_server import build_writer

    built = build_writer(Config(database_url=str(engine.url)))
    assert (built.wal_autocheckpoint, built.wal_checkpoint_bytes) == (None, 40 * 1024 * 1024)
    assert GroupWriter(lambda: engine, {"n": pragma}, wal_autocheckpoint=2500, wal_checkpoint_bytes=1 << 30).submit(
        "n", 1) == 2500  # pages, when given, win


def test_writer_turns_its_wal_checkpoint_bytes_into_pages_of_the_files_size(tmp_path, monkeypatch):
    pragma = lambda c, p: [c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()] * len(p)  # noqa: E731
    monkeypatch.setenv("ANALYTICS_SQLITE_PAGE_SIZE", "16384")
    new = get_engine(f"sqlite:///{tmp_path / 'new.db'}")  # a file made with 16 KiB pages
    old = _sqlite_engine(tmp_path)  # SQLite's default 4 KiB pages
    assert GroupWriter(lambda: new, {"n": pragma}, wal_checkpoint_bytes=40 << 20).submit("n", 1) == 2560
    assert GroupWriter(lambda: old, {"n": pragma}, wal_checkpoint_bytes=40 << 20).submit("n", 1) == 10240
    assert GroupWriter(lambda: old, {"n": pragma}, wal_checkpoint_bytes=1000).submit("n", 1) == 100  # at least


def test_writer_keeps_statement_journals_in_memory_on_sqlite(tmp_path):
    engine = _sqlite_engine(tmp_path)
    pragma = lambda c, p: [c.exec_driver_sql("PRAGMA temp_store").scalar()] * len(p)  # noqa: E731
    assert GroupWriter(lambda: engine, {"n": pragma}).submit("n", 1) == 2  # MEMORY
    with engine.connect() as other:  # the writer's own connection only
        assert other.exec_driver_sql("PRAGMA temp_store").scalar() == 0


def test_writer_sets_its_page_cache_on_sqlite(tmp_path):
    engine = _sqlite_engine(tmp_path)
    pragma = lambda c, p: [c.exec_driver_sql("PRAGMA cache_size").scalar()] * len(p)  # noqa: E731
    assert GroupWriter(lambda: engine, {"n": pragma}, sqlite_cache_mb=16).submit("n", 1) == -16 * 1024  # KiB
    assert GroupWriter(lambda: engine, {"n": pragma}).submit("n", 1) == -2000  # None: SQLite's default
    from ingest_service.writer_server import build_writer

    assert build_writer(Config(database_url=str(engine.url))).sqlite_cache_mb == 128


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="TEST_DATABASE_URL is not set")
def test_writer_commits_synchronously_whatever_the_server_default():
    from sqlalchemy import make_url

    from analytics.db import _normalise

    url = make_url(_normalise(os.environ["TEST_DATABASE_URL"])).update_query_dict(
        {"options": "-csynchronous_commit=off"})  # fmt: skip
    engine = create_engine(url)
    show = "SELECT current_setting('synchronous_commit') || ' ' || current_setting('statement_timeout')"
    writer = GroupWriter(lambda: engine, {"n": lambda c, p: [c.exec_driver_sql(show).scalar()]}, write_timeout=2.5)
    try:
        assert writer.submit("n", 1) == "on 2500ms"  # the server cancels a statement when the requests give up
        assert writer.submit("n", 2) == "on 2500ms"  # same connection, set once
    finally:
        engine.dispose()


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    | st.sampled_from(["\ud800", "x\udfff", "\x00", "\ud83d\ude00", "\u2028", "é\"\\/"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=16,
)


def _outcome(parse, data):
    try:
        return "ok", _typed(parse(data))
    except falcon.HTTPError as exc:
        return "error", exc.code, exc.description


def _typed(value):
    """The value with every scalar tagged by its type (1 == 1.0 == True in Python; here they differ)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return type(value).__name__, repr(value)


@settings(max_examples=400, deadline=None)
@given(_JSON_VALUES, st.booleans())
def test_parse_json_fast_path_reads_documents_as_the_json_module(value, ascii_only):
    from ingest_service.body import _parse_with_json

    data = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert _outcome(parse_json, data) == _outcome(_parse_with_json, data)


@pytest.mark.parametrize("data", [b'{"a": 123456789012345678901234}', b'[-9223372036854775809]', b'"a\\u0000"',
                                  b'{"a": "\\ud800"}', b'[1e400]', b'\xef\xbb\xbf[1]', b"[" * 2000 + b"]" * 2000])
def test_parse_json_fast_path_edges(data):
    from ingest_service.body import _parse_with_json

    assert _outcome(parse_json, data) == _outcome(_parse_with_json, data)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="TEST_DATABASE_URL is not set")
def test_writer_keeps_partitions_ahead_and_never_fails_a_group_for_them(tmp_path, caplog):
    import logging

    from dbutil import drop_coming_months, make_database

    from analytics.db import upgrade
    from analytics.events import validate_event
    from analytics.partitions import month_partitions
    from analytics.storage import prepare_events
    from ingest_service.store import store_event_groups

    def submit(writer, event_id):
        event = validate_event({"event_type": "ai_calculator_opened", "session_id": "s", "event_id": event_id})
        return writer.submit("events", tuple(prepare_events([event], "postgresql")), 1)

    url, cleanup = make_database("postgresql", tmp_path)
    engine = get_engine(url)
    try:
        upgrade(engine)
        names = drop_coming_months(engine)  # as if the database had been migrated three months ago
        writer = GroupWriter(lambda: engine, {"events": store_event_groups})
        assert submit(writer, "w1") == (0,)
        with engine.connect() as c:
            assert set(names) <= set(month_partitions(c))  # made before the first group
        # due again while a report holds the default partition: the group is written, the upkeep tried later
        drop_coming_months(engine, 1)
        writer._next_upkeep = 0.0
        with engine.connect() as holder, caplog.at_level(logging.WARNING, logger="ingest_service.writer"):
            holder.begin()
            holder.exec_driver_sql("LOCK TABLE analytics_events_default IN ACCESS EXCLUSIVE MODE")
            assert submit(writer, "w2") == (0,)
            holder.rollback()
        assert "partition upkeep failed, trying again in 600 s" in caplog.text
        assert writer._next_upkeep - time.monotonic() > 590
    finally:
        engine.dispose()
        cleanup()


def test_metrics_client_is_made_again_after_a_failed_lookup(monkeypatch):
    import socket

    from ingest_service import metrics

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    answers = [OSError("Name or service not known"), ("127.0.0.1", udp.getsockname()[1], "ai_calculator")]

    def address():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(metrics, "_address", address)
    monkeypatch.setattr(metrics, "RECONNECT_SECONDS", 0.0)
    buffered = metrics.BufferedMetrics(interval=3600)
    try:
        buffered.incr("ingest.duplicates", 3)  # the first lookup fails: nothing raised
        assert buffered._client is None and len(answers) == 1
        buffered.flush()  # due again: made, and sends what was buffered meanwhile
        assert udp.recv(512) == b"ai_calculator.ingest.duplicates:3|c"
        assert answers == []
    finally:
        udp.close()
