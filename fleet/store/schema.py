"""The central store's tables (SQLAlchemy Core): one module owns the schema; migrations/ creates it.

Idempotency is the schema's: UNIQUE (device_id, stream_id, sequence) on events. ``events.id`` with ``events.xid``
(the writing transaction on PostgreSQL, 0 on SQLite) is the cursor of WatchEvents (fleet.store.cursors); ids are
AUTOINCREMENT on SQLite, so a deleted tail's ids are never handed out again. On PostgreSQL the events table is
partitioned by capture time (migration 0003), which adds capture_time to its primary and unique keys; this
metadata describes the SQLite shape, the migrations both.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = ["metadata", "devices", "streams", "events", "drops", "gaps", "ID_LENGTH"]

ID_LENGTH = 128  # device and stream ids (the contract allows 1 to 128 characters)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_Id = sa.String(ID_LENGTH)
# Texts compared byte-wise on PostgreSQL, so LIKE 'X%' can use the btree index whatever the database's locale.
_NormalizedText = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
# An event's key fields, [{"name", "value", "text", "confidence", "field_set", "normalized_value"}] or NULL: JSONB
# on PostgreSQL, where a GIN index serves containment (migration 0004); SQLite's JSON1 scans them (json_each).
_Fields = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("device_id", _Id, primary_key=True),
    sa.Column("first_seen", sa.Double, nullable=False),
    sa.Column("last_seen", sa.Double, nullable=False),
    sa.Column("software_version", sa.String(128), nullable=False, server_default=""),
    sa.Column("bundle", sa.String(128), nullable=False, server_default=""),
    sa.Column("backend", sa.String(64), nullable=False, server_default=""),
    sa.Column("precision", sa.JSON, nullable=True),
    sa.Column("backlog_events", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("backlog_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("oldest_backlog_time", sa.Double, nullable=True),
)

streams = sa.Table(
    "streams",
    metadata,
    sa.Column("device_id", _Id, sa.ForeignKey("devices.device_id"), primary_key=True),
    sa.Column("stream_id", _Id, primary_key=True),
    sa.Column("acked_sequence", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_capture_time", sa.Double, nullable=True),
    sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
)

# No foreign key from events to streams: the stream row is created (and locked) by the same transaction, and a
# per-row referential check would cost the hot path; delete_device removes both.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", _EventId, primary_key=True, autoincrement=True),
    sa.Column("xid", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("device_id", _Id, nullable=False),
    sa.Column("stream_id", _Id, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("capture_time", sa.Double, nullable=False),
    sa.Column("receive_time", sa.Double, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("track_id", sa.BigInteger, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("normalized_text", _NormalizedText, nullable=False),
    sa.Column("confidence", sa.Double, nullable=False),
    sa.Column("polygon", sa.JSON, nullable=True),
    sa.Column("frame_width", sa.Integer, nullable=False),
    sa.Column("frame_height", sa.Integer, nullable=False),
    sa.Column("bundle", sa.String(128), nullable=False),
    sa.Column("backend", sa.String(64), nullable=False),
    sa.Column("precision", sa.JSON, nullable=True),
    sa.Column("previous_text", sa.Text, nullable=False),
    sa.Column("frame_sequence", sa.BigInteger, nullable=False),
    sa.Column("fields", _Fields, nullable=True),
    sa.UniqueConstraint("device_id", "stream_id", "sequence"),
    sa.Index(None, "capture_time", "id"),
    sa.Index(None, "normalized_text", "capture_time"),
    sa.Index(None, "xid", "id"),
    sqlite_autoincrement=True,
)

# The device's reported totals per reason: replaced by each report, never added up.
drops = sa.Table(
    "drops",
    metadata,
    sa.Column("device_id", _Id, sa.ForeignKey("devices.device_id"), primary_key=True),
    sa.Column("reason", sa.String(32), primary_key=True),
    sa.Column("total", sa.BigInteger, nullable=False),
)

# Declared gaps that moved a high-water mark, kept for audit (only the part that moved it).
gaps = sa.Table(
    "gaps",
    metadata,
    sa.Column("id", _EventId, primary_key=True, autoincrement=True),
    sa.Column("device_id", _Id, nullable=False),
    sa.Column("stream_id", _Id, nullable=False),
    sa.Column("first_sequence", sa.BigInteger, nullable=False),
    sa.Column("last_sequence", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("receive_time", sa.Double, nullable=False),
    sa.ForeignKeyConstraint(["device_id", "stream_id"], ["streams.device_id", "streams.stream_id"]),
)
