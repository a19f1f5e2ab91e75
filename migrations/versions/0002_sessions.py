"""Sessions table for identity resolution, backfilled from the events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(100), primary_key=True),
        sa.Column("user_id", sa.String(100)),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_id"])
    op.execute(
        'INSERT INTO sessions (session_id, user_id, first_seen, last_seen) '
        'SELECT session_id, min(user_id), min("timestamp"), max("timestamp") FROM analytics_events '
        "GROUP BY session_id"
    )


def downgrade() -> None:
    op.drop_table("sessions")
