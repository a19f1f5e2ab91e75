"""Engines and schema upgrades for the configured database.

The embedded default is the SQLite file ``data/analytics.db`` (relative to the project root), used whenever
``DATABASE_URL`` is unset. Reads for notebooks and reports go to ``ANALYTICS_READ_DATABASE_URL`` (a read replica)
when it is set.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL

from analytics.errors import ConfigError

__all__ = [
    "PG_CONNECT_DEFAULTS",
    "PROJECT_ROOT",
    "database_url",
    "dispose_engines",
    "get_engine",
    "get_read_engine",
    "normalise_url",
    "read_database_url",
    "sqlite_page_size",
    "upgrade",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_SQLITE = PROJECT_ROOT / "data" / "analytics.db"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _normalise(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2), and make a SQLite file's
    relative path absolute, against the current directory.

    Why the second: processes started from another directory must open the same file. The ingest sidecar's writer
    process runs in the project directory; with ``DATABASE_URL=sqlite:///rel.db`` and gunicorn started elsewhere,
    the server migrated ``<its directory>/rel.db`` while the writer wrote to ``<project>/rel.db``, an empty file:
    every event was answered 503 ("no such table") for good.
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        parsed = make_url(url)
        path = parsed.database
        if path and path != ":memory:" and not path.startswith("file:") and not os.path.isabs(path):
            url = parsed.set(database=os.path.abspath(path)).render_as_string(hide_password=False)
    return url


#: Public name of :func:`_normalise`, for the sidecar's configuration.
normalise_url = _normalise


def database_url() -> str:
    """The write database: ``DATABASE_URL`` or the embedded SQLite default."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return _normalise(url)
    return f"sqlite:///{_DEFAULT_SQLITE}"


def read_database_url() -> str:
    """The database analyses read from: ``ANALYTICS_READ_DATABASE_URL`` if set, else :func:`database_url`."""
    url = os.environ.get("ANALYTICS_READ_DATABASE_URL")
    return _normalise(url) if url else database_url()


#: Page size of a SQLite file this package creates (``ANALYTICS_SQLITE_PAGE_SIZE``): SQLite's own default. Decision
#: 2026-12-05 (docs/ingest.md, "page size"): 16 KiB pages store the benchmark's mixed 100-event batches 3-4 % faster
#: but single events 2-7 % slower and first exposures (random keys) up to a third slower as their table grows, since
#: every row with a random key dirties a whole page. It applies only to a new, empty file: an existing database
#: keeps the page size it was created with.
SQLITE_PAGE_SIZE = 4_096


def sqlite_page_size(environ: Mapping[str, str] | None = None) -> int:
    """The page size for new SQLite files: ``ANALYTICS_SQLITE_PAGE_SIZE`` or :data:`SQLITE_PAGE_SIZE`.

    Raises
    ------
    ConfigError
        When the variable is not a power of two from 512 to 65,536 (what SQLite accepts).
    """
    env = os.environ if environ is None else environ
    raw = (env.get("ANALYTICS_SQLITE_PAGE_SIZE") or "").strip()
    if not raw:
        return SQLITE_PAGE_SIZE
    size = int(raw) if raw.isdigit() else 0
    if not 512 <= size <= 65_536 or size & (size - 1):
        raise ConfigError(
            f"'ANALYTICS_SQLITE_PAGE_SIZE' must be a power of two from 512 to 65536 (got {raw!r})"
        )
    return size


def _sqlite_pragmas(page_size: int):
    """The ``connect`` listener of a SQLite engine creating new files with ``page_size``-byte pages."""

    def on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised through every SQLite engine
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA page_size={page_size}")  # before WAL mode: only a new, empty file takes it
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return on_connect


#: libpq connection settings every PostgreSQL engine gets unless its URL sets them (``?keepalives_idle=60``):
#: a connection attempt gives up after 10 s instead of waiting on an unreachable host for minutes; TCP keepalives
#: every 30 s of silence keep an idle connection's entry alive in NATs and load balancers that drop idle flows
#: without telling either end (4-6 minutes in common clouds), and find a dead peer within about a minute; data
#: the server has not acknowledged for 30 s fails the connection instead of waiting out TCP's retransmissions
#: (about 15 minutes). A long-lived connection, such as the ingest writer's, needs all three.
PG_CONNECT_DEFAULTS: dict[str, int] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def _build_engine(url: str) -> Engine:
    parsed: URL = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        page_size = sqlite_page_size()
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas(page_size))
        return engine
    if parsed.get_backend_name() == "postgresql":
        # libpq settings the URL does not set itself: see PG_CONNECT_DEFAULTS
        extra = {k: v for k, v in PG_CONNECT_DEFAULTS.items() if k not in parsed.query}
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=extra)
    raise ConfigError(
        f"'DATABASE_URL' must be a sqlite:// or postgresql:// URL (got {parsed.render_as_string(hide_password=True)})"
    )


def get_engine(url: str | None = None) -> Engine:
    """A cached engine for ``url`` (default: :func:`database_url`).

    SQLite engines run in WAL mode with ``synchronous=FULL``, so a committed transaction is on disk.
    """
    url = _normalise(url) if url else database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _build_engine(url)
        return engine


def get_read_engine(url: str | None = None) -> Engine:
    """The engine analyses read from (the read replica when ``ANALYTICS_READ_DATABASE_URL`` is set)."""
    return get_engine(url or read_database_url())


def dispose_engines() -> None:
    """Close every cached engine's pool (tests, forked workers)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


#: Key of the PostgreSQL advisory lock that serialises migrations (any constant shared by all processes).
_MIGRATION_LOCK_KEY = 0x41_49_43_41_4C_43  # "AICALC"


def upgrade(target: Engine | str | None = None, revision: str = "head") -> None:
    """Apply the Alembic migrations in ``migrations/`` up to ``revision``; idempotent.

    Safe to call from several processes at once (workers of a server started without its config file, a
    notebook and a report): on PostgreSQL the migration holds a transaction-scoped advisory lock, on a SQLite file
    an exclusive ``flock`` on ``<database>.migrate-lock``, so one process migrates and the others then find the
    schema at ``revision`` and do nothing.
    """
    from alembic import command
    from alembic.config import Config

    engine = target if isinstance(target, Engine) else get_engine(target)
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with _migration_file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextlib.contextmanager
def _migration_file_lock(engine: Engine) -> Iterator[None]:
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.migrate-lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
