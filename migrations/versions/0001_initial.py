"""Initial schema: events (partitioned on PostgreSQL), dedup ledger, assessments, A/B tests, alerts, report runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from analytics.partitions import maintain

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_EVENT_COLUMNS_PG = """
    id bigserial NOT NULL,
    event_id varchar(64) NOT NULL,
    event_type varchar(100) NOT NULL,
    user_id varchar(100),
    session_id varchar(100) NOT NULL,
    "timestamp" timestamp without time zone NOT NULL,
    received_at timestamp without time zone NOT NULL,
    event_data jsonb,
    source varchar(100),
    medium varchar(100),
    campaign varchar(200),
    country varchar(2),
    region varchar(100),
    device varchar(20),
    created_at timestamp without time zone NOT NULL DEFAULT now(),
    PRIMARY KEY (id, "timestamp")
"""


def _events_table() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f'CREATE TABLE analytics_events ({_EVENT_COLUMNS_PG}) PARTITION BY RANGE ("timestamp")')
        op.execute("CREATE TABLE analytics_events_default PARTITION OF analytics_events DEFAULT")
    else:
        op.create_table(
            "analytics_events",
            sa.Column("id", BigId, primary_key=True, autoincrement=True),
            sa.Column("event_id", sa.String(64), nullable=False),
            sa.Column("event_type", sa.String(100), nullable=False),
            sa.Column("user_id", sa.String(100)),
            sa.Column("session_id", sa.String(100), nullable=False),
            sa.Column("timestamp", sa.DateTime, nullable=False),
            sa.Column("received_at", sa.DateTime, nullable=False),
            sa.Column("event_data", JSONType),
            sa.Column("source", sa.String(100)),
            sa.Column("medium", sa.String(100)),
            sa.Column("campaign", sa.String(200)),
            sa.Column("country", sa.String(2)),
            sa.Column("region", sa.String(100)),
            sa.Column("device", sa.String(20)),
            sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
        )
    op.create_index("ix_events_type_ts", "analytics_events", ["event_type", "timestamp"])
    op.create_index("ix_events_session", "analytics_events", ["session_id"])
    op.create_index("ix_events_user", "analytics_events", ["user_id"])
    op.create_index("ix_events_ts", "analytics_events", ["timestamp"])
    if bind.dialect.name == "postgresql":
        maintain(bind)


def upgrade() -> None:
    _events_table()
    op.create_table(
        "event_keys",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("event_timestamp", sa.DateTime, nullable=False),
    )
    op.create_index("ix_event_keys_ts", "event_keys", ["event_timestamp"])
    op.create_table(
        "assessments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), unique=True),
        sa.Column("user_id", sa.String(100)),
        sa.Column("session_id", sa.String(100), nullable=False),
        sa.Column("job_title", sa.String(200)),
        sa.Column("industry", sa.String(100)),
        sa.Column("risk_level", sa.String(50)),
        sa.Column("risk_score", sa.Float),
        sa.Column("completion_time", sa.Float),
        sa.Column("country", sa.String(2)),
        sa.Column("region", sa.String(100)),
        sa.Column("age_range", sa.String(20)),
        sa.Column("experience_level", sa.String(50)),
        sa.Column("company_size", sa.String(50)),
        sa.Column("education", sa.String(50)),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_assessments_created", "assessments", ["created_at"])
    op.create_index("ix_assessments_session", "assessments", ["session_id"])
    op.create_table(
        "ab_tests",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("test_id", sa.String(100), nullable=False, unique=True),
        sa.Column("test_name", sa.String(200), nullable=False),
        sa.Column("test_type", sa.String(100), nullable=False),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "ab_assignments",
        sa.Column("test_id", sa.String(100), nullable=False),
        sa.Column("unit_id", sa.String(100), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False),
        sa.Column("phase", sa.Integer, nullable=False, server_default="0"),
        sa.Column("hash_value", sa.Float),
        sa.Column("first_exposure_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("test_id", "unit_id", name="pk_ab_assignments"),
    )
    op.create_index("ix_ab_assignments_test_variant", "ab_assignments", ["test_id", "variant"])
    op.create_table(
        "alert_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(20)),
        sa.Column("channel", sa.String(50)),
        sa.Column("value", sa.Float),
        sa.Column("payload", JSONType),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False, server_default="1"),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_alert_log_sent", "alert_log", ["sent_at"])
    op.create_table(
        "report_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("period", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("duration_s", sa.Float),
        sa.Column("files", JSONType),
        sa.Column("recipients", JSONType),
        sa.Column("emailed", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_report_runs_job_period", "report_runs", ["job", "period"])


def downgrade() -> None:
    for name in ("report_runs", "alert_log", "ab_assignments", "ab_tests", "assessments", "event_keys"):
        op.drop_table(name)
    op.execute("DROP TABLE analytics_events" + (" CASCADE" if op.get_bind().dialect.name == "postgresql" else ""))
