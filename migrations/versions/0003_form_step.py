"""Typed ``form_step`` column on the events (``event_data.step`` as an integer, backfilled) and a covering index
for the funnel aggregate.

The calculator funnel matches ``calculator_step_completed`` events by their ``step`` property; extracting it from
JSON for every row and every step made the funnel aggregate measurably slower (≈0.2 s per pass over 3 M rows on
PostgreSQL, ten passes per query). ``form_step`` holds the value when it is a JSON integer (booleans, strings and
missing values stay NULL, matching the funnel's typed equality) and is filled by every writer
(``analytics.storage.write_events``, the demo bulk loader).

``ix_events_funnel`` (``event_type, timestamp`` plus ``session_id, form_step``) lets the funnel's per-session
aggregate read only the index (PostgreSQL index-only scan once the visibility map is set by (auto)vacuum):
measured on 9.4 M events, the scan went from 1.8 s to 0.5 s and the whole aggregate from 6.7 s to 6.0 s.
On PostgreSQL the extra columns are ``INCLUDE`` columns; SQLite has no ``INCLUDE``, so they are key columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("analytics_events", sa.Column("form_step", sa.Integer))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE analytics_events SET form_step = CAST(event_data ->> 'step' AS INTEGER) "
            "WHERE jsonb_typeof(event_data -> 'step') = 'number' "
            "AND (event_data ->> 'step') ~ '^-?[0-9]{1,9}$'"
        )
        op.create_index("ix_events_funnel", "analytics_events", ["event_type", "timestamp"],
                        postgresql_include=["session_id", "form_step"])
    else:
        op.execute(
            "UPDATE analytics_events SET form_step = json_extract(event_data, '$.step') "
            "WHERE json_type(event_data, '$.step') = 'integer'"
        )
        op.create_index("ix_events_funnel", "analytics_events", ["event_type", "timestamp", "session_id", "form_step"])


def downgrade() -> None:
    op.drop_index("ix_events_funnel", table_name="analytics_events")
    with op.batch_alter_table("analytics_events") as batch:
        batch.drop_column("form_step")
