"""Shared fixtures: fresh migrated databases (SQLite always, PostgreSQL when ``TEST_DATABASE_URL`` is set) and a
small deterministic demo data set.

PostgreSQL isolation: each test gets its own schema (``search_path``) in the ``TEST_DATABASE_URL`` database,
dropped afterwards, so concurrent runs never see each other's tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from dbutil import BACKENDS, TEST_DATABASE_URL, make_database
from sqlalchemy import Engine

from analytics.db import _build_engine, upgrade

#: The demo fixture's period ends here, so expected values in tests never depend on today's date.
DEMO_END = datetime(2026, 11, 23)
DEMO_DAYS = 56
DEMO_SESSIONS = 4000
DEMO_SEED = 11

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
