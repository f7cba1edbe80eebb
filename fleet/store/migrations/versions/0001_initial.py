"""The fleet store's first schema: devices, streams, events, drops, gaps.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.String(128)
_EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", _Id, nullable=False),
        sa.Column("first_seen", sa.Double, nullable=False),
        sa.Column("last_seen", sa.Double, nullable=False),
        sa.Column("software_version", sa.String(128), nullable=False, server_default=""),
        sa.Column("bundle", sa.String(128), nullable=False, server_default=""),
        sa.Column("backend", sa.String(64), nullable=False, server_default=""),
        sa.Column("precision", sa.JSON, nullable=True),
        sa.Column("backlog_events", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("backlog_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("oldest_backlog_time", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("device_id", name="pk_devices"),
    )
    op.create_table(
        "streams",
        sa.Column("device_id", _Id, nullable=False),
        sa.Column("stream_id", _Id, nullable=False),
        sa.Column("acked_sequence", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_capture_time", sa.Double, nullable=True),
        sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("device_id", "stream_id", name="pk_streams"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"], name="fk_streams_devices"),
    )
    op.create_table(
        "events",
        sa.Column("id", _EventId, nullable=False, autoincrement=True),
        sa.Column("device_id", _Id, nullable=False),
        sa.Column("stream_id", _Id, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("capture_time", sa.Double, nullable=False),
        sa.Column("receive_time", sa.Double, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("track_id", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("normalized_text", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False),
        sa.Column("confidence", sa.Double, nullable=False),
        sa.Column("polygon", sa.JSON, nullable=True),
        sa.Column("frame_width", sa.Integer, nullable=False),
        sa.Column("frame_height", sa.Integer, nullable=False),
        sa.Column("bundle", sa.String(128), nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("precision", sa.JSON, nullable=True),
        sa.Column("previous_text", sa.Text, nullable=False),
        sa.Column("frame_sequence", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("device_id", "stream_id", "sequence", name="uq_events_device_id_stream_id_sequence"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_capture_time_id", "events", ["capture_time", "id"])
    op.create_index("ix_events_normalized_text_capture_time", "events", ["normalized_text", "capture_time"])
    op.create_table(
        "drops",
        sa.Column("device_id", _Id, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("device_id", "reason", name="pk_drops"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"], name="fk_drops_devices"),
    )
    op.create_table(
        "gaps",
        sa.Column("id", _EventId, nullable=False, autoincrement=True),
        sa.Column("device_id", _Id, nullable=False),
        sa.Column("stream_id", _Id, nullable=False),
        sa.Column("first_sequence", sa.BigInteger, nullable=False),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("receive_time", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gaps"),
        sa.ForeignKeyConstraint(
            ["device_id", "stream_id"], ["streams.device_id", "streams.stream_id"], name="fk_gaps_streams"
        ),
    )


def downgrade() -> None:
    for table in ("gaps", "drops", "events", "streams", "devices"):
        op.drop_table(table)
