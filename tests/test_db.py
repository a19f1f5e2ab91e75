"""Database URLs and engines."""

import os

import pytest
from sqlalchemy import text

from analytics import db
from analytics.errors import ConfigError


def test_default_is_embedded_sqlite(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert db.database_url() == f"sqlite:///{db.PROJECT_ROOT / 'data' / 'analytics.db'}"


def test_postgres_urls_use_psycopg3(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert db.database_url() == "postgresql+psycopg://u@h/db"


def test_read_replica(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@primary/db")
    monkeypatch.delenv("ANALYTICS_READ_DATABASE_URL", raising=False)
    assert db.read_database_url() == "postgresql+psycopg://u@primary/db"
    monkeypatch.setenv("ANALYTICS_READ_DATABASE_URL", "postgres://u@replica/db")
    assert db.read_database_url() == "postgresql+psycopg://u@replica/db"


def test_unsupported_url():
    with pytest.raises(ConfigError) as info:
        db.get_engine("mysql://root@localhost/x")
    assert str(info.value) == "'DATABASE_URL' must be a sqlite:// or postgresql:// URL (got mysql://root@localhost/x)"


def test_sqlite_is_durable(tmp_path):
    engine = db.get_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    assert db.get_engine(f"sqlite:///{tmp_path / 'x.db'}") is engine


def test_new_sqlite_files_get_the_configured_page_size(tmp_path, monkeypatch):
    monkeypatch.delenv("ANALYTICS_SQLITE_PAGE_SIZE", raising=False)
    engine = db.get_engine(f"sqlite:///{tmp_path / 'new.db'}")
    db.upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("PRAGMA page_size")).scalar() == 4096
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    monkeypatch.setenv("ANALYTICS_SQLITE_PAGE_SIZE", "16384")
    engine = db.get_engine(f"sqlite:///{tmp_path / 'big.db'}")
    db.upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("PRAGMA page_size")).scalar() == 16384
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_existing_sqlite_file_keeps_its_page_size(tmp_path, monkeypatch):
    import sqlite3

    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)  # a file made with other pages than the configured ones
    raw.execute("PRAGMA page_size=8192")
    raw.execute("CREATE TABLE t (x INTEGER)")
    raw.execute("INSERT INTO t VALUES (1)")
    raw.commit()
    raw.close()
    monkeypatch.setenv("ANALYTICS_SQLITE_PAGE_SIZE", "16384")
    with db.get_engine(f"sqlite:///{path}").connect() as c:
        assert c.execute(text("PRAGMA page_size")).scalar() == 8192
        assert c.execute(text("SELECT x FROM t")).scalar() == 1
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_sqlite_page_size_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYTICS_SQLITE_PAGE_SIZE", "1024")
    with db.get_engine(f"sqlite:///{tmp_path / 'small.db'}").connect() as c:
        assert c.execute(text("PRAGMA page_size")).scalar() == 1024
    assert db.sqlite_page_size({}) == 4096
    assert db.sqlite_page_size({"ANALYTICS_SQLITE_PAGE_SIZE": " 65536 "}) == 65536


@pytest.mark.parametrize("value", ["16k", "1000", "256", "131072", "-4096"])
def test_sqlite_page_size_must_be_a_power_of_two_sqlite_accepts(value):
    with pytest.raises(ConfigError) as info:
        db.sqlite_page_size({"ANALYTICS_SQLITE_PAGE_SIZE": value})
    assert str(info.value) == (
        f"'ANALYTICS_SQLITE_PAGE_SIZE' must be a power of two from 512 to 65536 (got {value!r})"
    )


def test_upgrade_is_idempotent(engine):
    from alembic.script import ScriptDirectory

    db.upgrade(engine)
    head = ScriptDirectory(str(db.PROJECT_ROOT / "migrations")).get_current_head()
    with engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


def test_migrated_indexes_are_the_schema_modules(engine):
    # the migrations and analytics.schema describe the same indexes (0004 dropped ix_events_type_ts from both)
    from sqlalchemy import inspect

    from analytics.schema import metadata

    insp = inspect(engine)
    for name in ("analytics_events", "event_keys", "sessions", "assessments", "ab_assignments"):
        migrated = {i["name"] for i in insp.get_indexes(name) if not i.get("unique")}
        declared = {i.name for i in metadata.tables[name].indexes if not i.unique}
        assert migrated == declared, name
    assert "ix_events_type_ts" not in {i["name"] for i in insp.get_indexes("analytics_events")}


def _migrate_at(url: str, start: float) -> str:
    """Run in a process of its own: wait for ``start`` (wall clock), then migrate; the error's text, or ''."""
    import time

    time.sleep(max(0.0, start - time.time()))
    try:
        db.upgrade(db._build_engine(url))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return f"{type(exc).__name__}: {exc}"
    return ""


def test_concurrent_upgrades_of_a_new_database_all_succeed(db_url):
    """Workers of a server started without its config file migrate at once: one does, the others wait and find
    the schema done (without the locks, SQLite gave 'table ... already exists' and PostgreSQL duplicate keys)."""
    import multiprocessing
    import time

    fresh = db_url
    with db._build_engine(fresh).begin() as conn:  # the fixture migrated it: start again from an empty schema
        if conn.dialect.name == "sqlite":
            names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")]
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for name in names:
                conn.exec_driver_sql(f'DROP TABLE "{name}"')
        else:
            for (name,) in conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"):
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        start = time.time() + 3.0
        errors = pool.starmap(_migrate_at, [(fresh, start)] * 4)
    assert errors == ["", "", "", ""]
    with db._build_engine(fresh).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM analytics_events")).scalar_one() == 0


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="TEST_DATABASE_URL is not set")
def test_postgres_engines_get_keepalives_and_timeouts_unless_the_url_sets_them():
    url = db._normalise(os.environ["TEST_DATABASE_URL"])
    for query, idle in (("", "30"), ("?keepalives_idle=60", "60")):
        engine = db._build_engine(url + query)
        try:
            with engine.connect() as conn:
                params = conn.connection.driver_connection.info.get_parameters()
        finally:
            engine.dispose()
        assert {k: params.get(k) for k in db.PG_CONNECT_DEFAULTS} == {
            "connect_timeout": "10", "keepalives": "1", "keepalives_idle": idle, "keepalives_interval": "10",
            "keepalives_count": "3", "tcp_user_timeout": "30000"}  # fmt: skip


def test_relative_sqlite_paths_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert db.normalise_url("sqlite:///data/x.db?timeout=5") == f"sqlite:///{tmp_path}/data/x.db?timeout=5"
    for url in ("sqlite:////abs/x.db", "sqlite://", "sqlite:///:memory:"):
        assert db.normalise_url(url) == url
    assert db.normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
