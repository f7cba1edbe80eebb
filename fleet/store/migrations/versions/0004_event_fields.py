"""Each event keeps the key fields its stream read in the line's text, so queries can filter on them.

Revision ID: 0004
Revises: 0003

A nullable column (NULL: no fields), JSON on SQLite and JSONB on PostgreSQL. On PostgreSQL the column is added to
the partitioned ``events`` (its partitions, the DEFAULT one included, follow; adding a nullable column without a
default rewrites nothing) with a GIN index (``jsonb_path_ops``) for containment: ``fields @> '[{"name": "total"}]'``.
A partitioned table's index is made on each partition, and the partitions made later (fleet.store.partitions) get
it too. Rows stored before keep NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "ix_events_fields"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("events", sa.Column("fields", postgresql.JSONB, nullable=True))
        op.execute(f"CREATE INDEX {INDEX} ON events USING gin (fields jsonb_path_ops)")
    else:
        op.add_column("events", sa.Column("fields", sa.JSON, nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {INDEX}")
    op.drop_column("events", "fields")
