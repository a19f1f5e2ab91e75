"""analytics.privacy: pseudonymisation, retention purge, deletion requests (expected values built by hand)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import String, func, inspect, select, text

from analytics.errors import ConfigError, InvalidParameterError
from analytics.events import validate_event
from analytics.privacy import (
    DEV_PSEUDONYM_KEY,
    SensitiveDataFilter,
    _hmac_id,
    delete_person,
    pseudonym_candidates,
    pseudonymize_user_id,
    purge_older_than,
    remaining_rows,
    scrub_event_data,
)
from analytics.schema import ab_assignments, analytics_events, assessments, event_keys, metadata, sessions
from analytics.storage import write_events

KEY = "k" * 32
ENV = {"ANALYTICS_PSEUDONYM_KEY": KEY}
NOW = datetime(2026, 6, 1, 12, 0, 0)


def test_hmac_matches_rfc4231_test_case_2():
    # RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?"
    assert _hmac_id(b"Jefe", "what do ya want for nothing?") == (
        "p_5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_pseudonym_is_keyed_hmac_sha256():
    expected = "p_" + hmac.new(KEY.encode(), b"user-42", hashlib.sha256).hexdigest()
    assert pseudonymize_user_id("user-42", ENV) == expected
    assert len(expected) == 66
    assert pseudonymize_user_id("user-42", {"ANALYTICS_PSEUDONYM_KEY": "z" * 32}) != expected
    assert pseudonymize_user_id(None, ENV) is None
    assert pseudonymize_user_id("", ENV) is None
    # a key resolved once (the sidecar does so at start-up): the environment given is not read
    assert pseudonymize_user_id("user-42", {"ANALYTICS_ENV": "production"}, key=KEY.encode()) == expected


def test_unset_key_uses_the_dev_key_outside_production_and_refuses_in_production():
    dev = "p_" + hmac.new(DEV_PSEUDONYM_KEY.encode(), b"u1", hashlib.sha256).hexdigest()
    assert pseudonymize_user_id("u1", {}) == dev
    with pytest.raises(ConfigError) as err:
        pseudonymize_user_id("u1", {"ANALYTICS_ENV": "production"})
    assert str(err.value).startswith("ANALYTICS_PSEUDONYM_KEY must be set when ANALYTICS_ENV=production (got nothing)")
    with pytest.raises(ConfigError) as err:
        pseudonymize_user_id("u1", {"ANALYTICS_PSEUDONYM_KEY": "short"})
    assert str(err.value) == "ANALYTICS_PSEUDONYM_KEY must be at least 16 characters (got 5 characters)"


def test_candidates_cover_raw_current_and_retired_keys():
    env = {**ENV, "ANALYTICS_PSEUDONYM_OLD_KEYS": "o" * 20 + ", " + "q" * 20}
    got = pseudonym_candidates("u1", env)
    assert got == [
        "u1",
        "p_" + hmac.new(KEY.encode(), b"u1", hashlib.sha256).hexdigest(),
        "p_" + hmac.new(b"o" * 20, b"u1", hashlib.sha256).hexdigest(),
        "p_" + hmac.new(b"q" * 20, b"u1", hashlib.sha256).hexdigest(),
    ]


def test_scrub_event_data_masks_emails_anywhere():
    data = {"job_title": "Nurse", "note": "mail me at ann.lee+cv@example.co.uk please",
            "nested": {"who": "bob@ex.com"}, "list": ["x@y.org", 3]}
    assert scrub_event_data(data) == {"job_title": "Nurse", "note": "mail me at [email] please",
                                      "nested": {"who": "[email]"}, "list": ["[email]", 3]}


# --- retention --------------------------------------------------------------------------------------------------


def _ev(event_type: str, session: str, ts: datetime, user: str | None = None, **data) -> object:
    raw = {"event_type": event_type, "session_id": session, "timestamp": ts.isoformat(), "event_data": data,
           "event_id": f"{session}-{event_type}-{ts:%Y%m%d%H%M%S}"}
    if user:
        raw["user_id"] = user
    return validate_event(raw, now=NOW)


def _assess(session: str, ts: datetime, user: str | None = None):
    return _ev("assessment_submitted", session, ts, user, job_title="Nurse", industry="Health", risk_level="low")


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_purge_deletes_old_rows_in_batches(engine):
    old, new = NOW - timedelta(days=40), NOW - timedelta(days=5)
    events = []
    for i in range(5):  # 5 old sessions: 2 events each (one assessment)
        events += [_ev("ai_calculator_opened", f"old{i}", old + timedelta(minutes=i)),
                   _assess(f"old{i}", old + timedelta(minutes=i, seconds=30))]
    # a session straddling the cutoff keeps its row and its new event
    events += [_ev("ai_calculator_opened", "mixed", old), _assess("mixed", new)]
    events += [_ev("ai_calculator_opened", "new", new)]
    write_events(engine, events)
    assert (_count(engine, analytics_events), _count(engine, sessions)) == (13, 7)
    result = purge_older_than(engine, 30, batch_size=4, now=NOW)
    assert result.cutoff == datetime(2026, 5, 2, 12, 0, 0)
    assert result.deleted == {"analytics_events": 11, "event_keys": 11, "assessments": 5, "sessions": 5}
    # 11 rows → batches of 4, 4, 3; 11 → 3; 5 → 4, 1; 5 → 4, 1
    assert result.batches == 3 + 3 + 2 + 2
    with engine.connect() as conn:
        left = conn.execute(select(analytics_events.c.session_id, analytics_events.c.event_type)
                            .order_by(analytics_events.c.session_id)).all()
        assert [tuple(r) for r in left] == [("mixed", "assessment_submitted"), ("new", "ai_calculator_opened")]
        assert sorted(conn.execute(select(sessions.c.session_id)).scalars()) == ["mixed", "new"]
    assert (_count(engine, event_keys), _count(engine, assessments)) == (2, 1)
    again = purge_older_than(engine, 30, batch_size=4, now=NOW)
    assert again.deleted == {"analytics_events": 0, "event_keys": 0, "assessments": 0, "sessions": 0}


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("days", {"days": 0}, "'days' must be an integer >= 1 (got days=0)"),
    ("days", {"days": "30"}, "'days' must be an integer >= 1 (got days='30')"),
    ("batch_size", {"days": 30, "batch_size": 0}, "'batch_size' must be an integer >= 1 (got batch_size=0)"),
])
def test_purge_rejects_bad_arguments(sqlite_engine, name, kwargs, message):
    with pytest.raises(InvalidParameterError) as err:
        purge_older_than(sqlite_engine, **kwargs)
    assert (err.value.name, str(err.value)) == (name, message)


def test_purge_does_not_lock_out_a_concurrent_writer(sqlite_engine):
    old = NOW - timedelta(days=100)
    write_events(sqlite_engine, [_ev("ai_calculator_opened", f"s{i}", old) for i in range(3000)])
    errors: list[BaseException] = []
    stored = []

    def writer():
        try:
            for i in range(50):
                stored.append(write_events(sqlite_engine, [_ev("ai_calculator_opened", f"w{i}", NOW)]).accepted)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    result = purge_older_than(sqlite_engine, 30, batch_size=200, now=NOW)
    t.join()
    assert errors == [] and sum(stored) == 50
    assert result.deleted["analytics_events"] == 3000 and result.batches >= 15


# --- deletion requests ------------------------------------------------------------------------------------------


def _all_string_values(engine) -> set[str]:
    """Every string value of every column of every table (JSON columns as text), for 'nothing remains'."""
    values: set[str] = set()
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for col in table.columns:
                if isinstance(col.type, String) or col.name in ("event_data", "config", "payload", "files"):
                    q = select(func.cast(col, String)) if col.name in ("event_data", "config") else select(col)
                    values.update(str(v) for v in conn.execute(q).scalars() if v is not None)
    return values


def test_delete_person_removes_every_row_about_them(engine):
    pid = pseudonymize_user_id("alice", ENV)
    t = NOW - timedelta(days=1)
    events = [
        # session a1: anonymous start, then alice identifies; its anonymous events are hers too
        _ev("ai_calculator_opened", "a1", t),
        _assess("a1", t + timedelta(minutes=1), pid),
        _ev("lead_captured", "a1", t + timedelta(minutes=2), pid, lead_source="calculator", email_consent=True),
        # session a2: alice again on another day
        _ev("ai_calculator_opened", "a2", t + timedelta(hours=5), pid),
        # data stored before pseudonymisation was switched on (raw id)
        _ev("ai_calculator_opened", "a3", t + timedelta(hours=6), "alice"),
        # somebody else
        _ev("ai_calculator_opened", "b1", t, "p_bob"),
        _assess("b1", t + timedelta(minutes=1), "p_bob"),
        _ev("ai_calculator_opened", "anon", t),
    ]
    write_events(engine, events)
    with engine.begin() as conn:
        conn.execute(ab_assignments.insert(), [
            {"test_id": "t-user", "unit_id": pid, "variant": "a", "phase": 0, "first_exposure_at": t},
            {"test_id": "t-sess", "unit_id": "a2", "variant": "b", "phase": 0, "first_exposure_at": t},
            {"test_id": "t-user", "unit_id": "p_bob", "variant": "a", "phase": 0, "first_exposure_at": t},
        ])
    assert remaining_rows(engine, "alice", environ=ENV) == 9  # 4 events, 1 assessment, 3 sessions, 1 assignment
    counts = delete_person(engine, "alice", environ=ENV)
    assert counts == {"analytics_events": 5, "event_keys": 5, "assessments": 1, "sessions": 3,
                      "ab_assignments": 2}
    assert remaining_rows(engine, "alice", environ=ENV) == 0
    values = _all_string_values(engine)
    for gone in ("alice", pid, "a1", "a2", "a3"):
        assert not any(gone == v or (len(gone) > 2 and gone in v) for v in values), gone
    with engine.connect() as conn:
        assert sorted(conn.execute(select(sessions.c.session_id)).scalars()) == ["anon", "b1"]
        assert conn.execute(select(func.count()).select_from(ab_assignments)).scalar_one() == 1
    assert (_count(engine, analytics_events), _count(engine, event_keys), _count(engine, assessments)) == (3, 3, 1)
    assert delete_person(engine, "alice", environ=ENV) == dict.fromkeys(counts, 0)


def test_delete_person_on_demo_data_leaves_nothing(sqlite_engine, demo_data):
    from analytics.demo import insert_demo

    with sqlite_engine.begin() as conn:
        insert_demo(conn, demo_data)
    with sqlite_engine.connect() as conn:
        user, n_sessions = conn.execute(text(
            "SELECT user_id, COUNT(*) FROM sessions WHERE user_id IS NOT NULL GROUP BY user_id "
            "ORDER BY COUNT(*) DESC, user_id LIMIT 1")).one()
        sids = list(conn.execute(text("SELECT session_id FROM sessions WHERE user_id = :u"), {"u": user}).scalars())
        n_events = conn.execute(text(
            "SELECT COUNT(*) FROM analytics_events WHERE user_id = :u OR session_id IN "
            "(SELECT session_id FROM sessions WHERE user_id = :u)"), {"u": user}).scalar_one()
        n_units = conn.execute(text(
            "SELECT COUNT(*) FROM ab_assignments WHERE unit_id = :u OR unit_id IN "
            "(SELECT session_id FROM sessions WHERE user_id = :u)"), {"u": user}).scalar_one()
        before = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in inspect(conn).get_table_names() if t != "alembic_version"}
    counts = delete_person(sqlite_engine, user, environ=ENV)
    assert (counts["sessions"], counts["analytics_events"], counts["ab_assignments"]) == (n_sessions, n_events,
                                                                                         n_units)
    with sqlite_engine.connect() as conn:
        after = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in before}
    assert {t: before[t] - after[t] for t in before if before[t] != after[t]} == {
        k: v for k, v in counts.items() if v}
    values = _all_string_values(sqlite_engine)
    assert user not in values and not set(sids) & values


def test_delete_person_rejects_bad_ids(sqlite_engine):
    with pytest.raises(InvalidParameterError) as err:
        delete_person(sqlite_engine, " ")
    assert str(err.value) == "'user_id' must be a non-empty string of at most 100 characters (got ' ')"


def test_cli_delete_and_purge(tmp_path, monkeypatch, capsys, request):
    from analytics.cli import main
    from analytics.db import _build_engine, upgrade

    factory = logging.getLogRecordFactory()  # the CLI installs log masking: undo it for the other tests
    request.addfinalizer(lambda: logging.setLogRecordFactory(factory))
    monkeypatch.setattr("analytics.privacy._installed", {})

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    eng = _build_engine(url)
    upgrade(eng)
    write_events(eng, [_ev("ai_calculator_opened", "c1", NOW - timedelta(days=1), pseudonymize_user_id("c", ENV))])
    eng.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", KEY)
    assert main(["privacy", "delete", "--user-id", "c"]) == 0
    assert capsys.readouterr().out.strip() == (
        "deleted rows: analytics_events=1, event_keys=1, assessments=0, sessions=1, ab_assignments=0")
    assert main(["privacy", "purge", "--days", "30", "--json"]) == 0
    assert '"deleted": {"analytics_events": 0, "event_keys": 0, "assessments": 0, "sessions": 0}' in (
        capsys.readouterr().out)
    assert main(["privacy", "purge", "--days", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: 'days' must be an integer >= 1 (got days=0)"


# --- logs -------------------------------------------------------------------------------------------------------


def _masked(message: str, *args, env=None, exc=None) -> logging.LogRecord:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, message, args, exc)
    SensitiveDataFilter(env or {}).filter(record)
    return record


@pytest.mark.parametrize(("message", "expected"), [
    ("Authorization: Bearer abc.DEF-123", "Authorization: [redacted] [redacted]"),
    ("token Bearer abc.DEF-123 ok", "token Bearer [redacted] ok"),
    ('"GET /v?user_id=raw-9&api_key=k1 HTTP/1.1"', '"GET /v?user_id=[redacted]&api_key=[redacted] HTTP/1.1"'),
    ("postgresql://app:pw1@db:5432/a?sslmode=verify-full", "postgresql://app:[redacted]@db:5432/a?sslmode=verify-full"),
    ("signup ann.lee+cv@example.co.uk done", "signup [email] done"),
    ("10.1.2.3 - - [2026-01-01 12:30:45 +0000]", "[ip] - - [2026-01-01 12:30:45 +0000]"),
    ("from ::1 and fe80::1ff:fe23:4567:890a", "from [ip] and [ip]"),
    ('{"password": "hunter2", "plan": "basic 49.99"}', '{"password": "[redacted]", "plan": "basic 49.99"}'),
    ("X-API-Key: k-123", "X-API-Key: [redacted]"),
])
def test_log_filter_masks(message, expected):
    assert _masked(message).getMessage() == expected


def test_log_filter_masks_configured_secrets_args_and_tracebacks():
    env = {"ANALYTICS_ADMIN_KEYS": "adm1n-key-zz,other-admin", "GA4_API_SECRET": "s3cr3tga4"}
    rec = _masked("keys %s and %s", "adm1n-key-zz", "other-admin", env=env)
    assert rec.getMessage() == "keys [redacted] and [redacted]"
    try:
        raise ValueError("failed for bob@example.com with s3cr3tga4")
    except ValueError:
        rec = _masked("boom", env=env, exc=sys.exc_info())
    assert "bob@example.com" not in rec.exc_text and "s3cr3tga4" not in rec.exc_text
    assert rec.exc_text.endswith("ValueError: failed for [email] with [redacted]")


def test_install_log_masking_covers_every_logger():
    code = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='%(name)s %(message)s', level=logging.INFO)\n"
        "from analytics.privacy import install_log_masking\n"
        "install_log_masking()\n"
        "logging.getLogger('gunicorn.access').info('%s %s', '10.0.0.7', 'x@y.com')\n"
        "lg = logging.getLogger('other'); lg.propagate = False; lg.addHandler(logging.StreamHandler(sys.stdout))\n"
        "lg.warning('key %s', 'rk-0123456789')\n"
    )
    env = {"ANALYTICS_READ_KEYS": "rk-0123456789", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["gunicorn.access [ip] [email]", "key [redacted]"]
