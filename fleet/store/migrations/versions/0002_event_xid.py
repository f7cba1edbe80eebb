"""Each event keeps its writing transaction's id, so WatchEvents' cursor is (xid, id) without a commit-order lock.

Revision ID: 0002
Revises: 0001

Rows stored before keep xid 0 (a plain-id cursor of before still resumes where it was). On PostgreSQL the column
defaults to ``pg_current_xact_id()`` from then on; SQLite keeps 0 (one writer: the id is its commit order).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

XID_DEFAULT = "(pg_current_xact_id()::text::bigint)"


def upgrade() -> None:
    op.add_column("events", sa.Column("xid", sa.BigInteger, nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "xid", server_default=sa.text(XID_DEFAULT))
    op.create_index("ix_events_xid_id", "events", ["xid", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_xid_id", table_name="events")
    op.drop_column("events", "xid")
