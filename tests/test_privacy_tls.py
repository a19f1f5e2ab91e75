"""Encryption in transit: the TLS settings of DATABASE_URL (sslmode, sslrootcert, ...) reach libpq unchanged."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError

from analytics.db import _build_engine, _normalise, database_url, read_database_url

TLS_URL = ("postgresql://analytics:pw@db.example.com:5432/analytics?sslmode=verify-full"
           "&sslrootcert=/etc/ssl/certs/db-ca.pem&sslcert=/etc/ssl/client.crt&sslkey=/etc/ssl/client.key")
TLS_QUERY = {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/certs/db-ca.pem", "sslcert": "/etc/ssl/client.crt",
             "sslkey": "/etc/ssl/client.key"}


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_normalisation_keeps_the_query(scheme):
    url = _normalise(TLS_URL.replace("postgresql", scheme, 1))
    assert url == TLS_URL.replace("postgresql", "postgresql+psycopg", 1)
    assert dict(make_url(url).query) == TLS_QUERY


def test_environment_urls_keep_the_query(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", TLS_URL)
    monkeypatch.setenv("ANALYTICS_READ_DATABASE_URL", TLS_URL.replace("db.example.com", "replica.example.com"))
    assert dict(make_url(database_url()).query) == TLS_QUERY
    assert dict(make_url(read_database_url()).query) == TLS_QUERY


def test_engine_hands_the_tls_settings_to_the_driver():
    engine = _build_engine(_normalise(TLS_URL))
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    assert {k: kwargs[k] for k in TLS_QUERY} == TLS_QUERY
    engine.dispose()


def _local_postgres() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


@pytest.mark.skipif(not _local_postgres(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_sslmode_reaches_libpq():
    """``sslmode=require`` either gives an encrypted session or libpq's own refusal -- never a silent plain one."""
    engine = _build_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test?sslmode=require&connect_timeout=5")
    try:
        with engine.connect() as conn:
            encrypted = conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar()
        assert encrypted is True
    except OperationalError as exc:
        assert "server does not support SSL, but SSL was required" in str(exc)
    finally:
        engine.dispose()
