"""Shared fixtures: fresh migrated databases (SQLite always, PostgreSQL when ``TEST_DATABASE_URL`` is set) and a
small deterministic demo data set.

PostgreSQL isolation: each test gets its own schema (``search_path``) in the ``TEST_DATABASE_URL`` database,
dropped afterwards, so concurrent runs never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from analytics.db import _build_engine, _normalise, upgrade

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
#: The demo fixture's period ends here, so expected values in tests never depend on today's date.
DEMO_END = datetime(2026, 11, 23)
DEMO_DAYS = 56
DEMO_SESSIONS = 4000
DEMO_SEED = 11

BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])


def pg_schema_url(schema: str) -> str:
    """The TEST_DATABASE_URL with ``search_path`` set to ``schema``."""
    url = make_url(_normalise(TEST_DATABASE_URL or ""))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def _pg_admin() -> Engine:
    return create_engine(_normalise(TEST_DATABASE_URL or ""), isolation_level="AUTOCOMMIT")


def make_database(backend: str, tmp_path: Path) -> tuple[str, callable]:
    """Create an empty database for ``backend``; returns its URL and a cleanup function."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}", lambda: None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def cleanup() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()

    return pg_schema_url(schema), cleanup


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> Iterator[str]:
    """URL of a fresh, migrated, empty database (one per backend)."""
    url, cleanup = make_database(request.param, tmp_path)
    engine = _build_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    cleanup()


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    """An engine on a fresh, migrated, empty database (SQLite, and PostgreSQL when configured)."""
    eng = _build_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """A fresh migrated SQLite database only."""
    eng = _build_engine(f"sqlite:///{tmp_path / 'only.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def demo_data():
    """The small deterministic demo data set (generated once per session)."""
    from analytics.demo import generate

    return generate(days=DEMO_DAYS, sessions=DEMO_SESSIONS, seed=DEMO_SEED, end=DEMO_END)


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory, demo_data) -> Iterator[Engine]:
    """A SQLite database holding the small demo data set, loaded once per session (read-only for tests)."""
    from analytics.demo import insert_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    eng = _build_engine(f"sqlite:///{path}")
    upgrade(eng)
    with eng.begin() as conn:
        insert_demo(conn, demo_data)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def demo_pg_engine(demo_data) -> Iterator[Engine]:
    """The same demo data set in PostgreSQL (skipped without TEST_DATABASE_URL)."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    from analytics.demo import insert_demo

    url, cleanup = make_database("postgresql", Path("."))
    eng = _build_engine(url)
    upgrade(eng)
    with eng.begin() as conn:
        insert_demo(conn, demo_data)
    yield eng
    eng.dispose()
    cleanup()
