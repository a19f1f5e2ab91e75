"""Database helpers for tests (importable as ``from dbutil import ...``; ``conftest`` is ambiguous with
several conftest files): fresh databases on SQLite and, when ``TEST_DATABASE_URL`` is set, PostgreSQL — each
PostgreSQL test in its own schema (``search_path``), dropped afterwards."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text

from analytics.db import _normalise

__all__ = ["BACKENDS", "TEST_DATABASE_URL", "drop_coming_months", "make_database", "pg_schema_url"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")

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


def drop_coming_months(engine: Engine, n: int = 3) -> list[str]:
    """Detach and drop the partitions of the ``n`` months after this one (as if the migration ran n months ago)."""
    from analytics.partitions import _add_months, _month_start, partition_name

    this = _month_start(datetime.utcnow())
    names = [partition_name(_add_months(this, k)) for k in range(1, n + 1)]
    with engine.begin() as c:
        for name in names:
            c.execute(text(f"ALTER TABLE analytics_events DETACH PARTITION {name}"))
            c.execute(text(f"DROP TABLE {name}"))
    return names
