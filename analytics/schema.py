"""SQLAlchemy Core schema: the seed's tables plus what real use needs.

The tables are created only by the Alembic migrations in ``migrations/`` (see :func:`analytics.db.upgrade`); these
objects describe them for queries. Times are naive UTC. On PostgreSQL ``analytics_events`` is range-partitioned by
month on ``timestamp`` (see :mod:`analytics.partitions`), so its physical primary key is ``(id, timestamp)`` and
client-id deduplication lives in the separate ``event_keys`` ledger (a unique constraint on a partitioned table
would have to include the partition key, and a retried event's corrected timestamp may differ).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "JSONType",
    "ab_assignments",
    "ab_tests",
    "alert_log",
    "analytics_events",
    "assessments",
    "event_keys",
    "metadata",
    "report_runs",
    "sessions",
]

metadata = MetaData()

#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: 64-bit ids; SQLite needs plain INTEGER for the rowid alias.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

analytics_events = Table(
    "analytics_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("user_id", String(100)),
    Column("session_id", String(100), nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("event_data", JSONType),
    Column("source", String(100)),
    Column("medium", String(100)),
    Column("campaign", String(200)),
    Column("country", String(2)),
    Column("region", String(100)),
    Column("device", String(20)),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
    Column("form_step", Integer),  # event_data.step when a JSON integer (migration 0003; the funnel matches on it)
)
Index("ix_events_session", analytics_events.c.session_id)
Index("ix_events_user", analytics_events.c.user_id)
Index("ix_events_ts", analytics_events.c.timestamp)
#: Covering index of the funnel aggregate (migration 0003; on SQLite session_id, form_step are key columns). It also
#: serves every ``event_type`` + time range query: the former ``ix_events_type_ts`` was its prefix (dropped, 0004).
Index("ix_events_funnel", analytics_events.c.event_type, analytics_events.c.timestamp,
      postgresql_include=["session_id", "form_step"])

event_keys = Table(
    "event_keys",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("event_timestamp", DateTime, nullable=False),
)
Index("ix_event_keys_ts", event_keys.c.event_timestamp)

assessments = Table(
    "assessments",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), unique=True),
    Column("user_id", String(100)),
    Column("session_id", String(100), nullable=False),
    Column("job_title", String(200)),
    Column("industry", String(100)),
    Column("risk_level", String(50)),
    Column("risk_score", Float),
    Column("completion_time", Float),
    Column("country", String(2)),
    Column("region", String(100)),
    Column("age_range", String(20)),
    Column("experience_level", String(50)),
    Column("company_size", String(50)),
    Column("education", String(50)),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
)
Index("ix_assessments_created", assessments.c.created_at)
Index("ix_assessments_session", assessments.c.session_id)

#: One row per session, kept up to date by every write: the session's identified user (the smallest user id seen
#: on any of its events) and its first/last event times. Identity resolution joins this small table instead of
#: grouping every event (see :mod:`analytics.identity`).
sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(100), primary_key=True),
    Column("user_id", String(100)),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
)
Index("ix_sessions_user", sessions.c.user_id)

ab_tests = Table(
    "ab_tests",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("test_id", String(100), nullable=False, unique=True),
    Column("test_name", String(200), nullable=False),
    Column("test_type", String(100), nullable=False),
    Column("status", String(50), nullable=False),
    Column("config", JSONType, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
    Column("updated_at", DateTime, nullable=False, server_default=func.now()),
)

ab_assignments = Table(
    "ab_assignments",
    metadata,
    Column("test_id", String(100), nullable=False),
    Column("unit_id", String(100), nullable=False),
    Column("variant", String(100), nullable=False),
    Column("phase", Integer, nullable=False, server_default="0"),
    Column("hash_value", Float),
    Column("first_exposure_at", DateTime, nullable=False),
    PrimaryKeyConstraint("test_id", "unit_id", name="pk_ab_assignments"),
)
Index("ix_ab_assignments_test_variant", ab_assignments.c.test_id, ab_assignments.c.variant)

alert_log = Table(
    "alert_log",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("rule", String(100), nullable=False),
    Column("state", String(20), nullable=False),
    Column("severity", String(20)),
    Column("channel", String(50)),
    Column("value", Float),
    Column("payload", JSONType),
    Column("sent_at", DateTime, nullable=False),
    Column("ok", Boolean, nullable=False, server_default="1"),
    Column("error", Text),
)
Index("ix_alert_log_sent", alert_log.c.sent_at)

report_runs = Table(
    "report_runs",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("job", String(100), nullable=False),
    Column("period", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("duration_s", Float),
    Column("files", JSONType),
    Column("recipients", JSONType),
    Column("emailed", Boolean, nullable=False, server_default="0"),
    Column("error", Text),
)
Index("ix_report_runs_job_period", report_runs.c.job, report_runs.c.period)
