"""PostgreSQL: ``events`` partitioned by capture time, so retention drops whole partitions instead of deleting rows.

Revision ID: 0003
Revises: 0002

Daily range partitions on ``capture_time`` are made ahead by the store (fleet.store.partitions); the DEFAULT
partition takes what no day's partition covers (events stored before this migration, clocks far off). A partitioned
table's unique keys must hold the partition key, so the primary key is (id, capture_time) and the idempotency key
(device, stream, sequence, capture_time): a resent event carries its capture time again, and the streams' marks
decide what is stored before the key is reached. The rows are copied once into the new table (the DEFAULT
partition). SQLite: nothing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_Id = sa.String(128)
_COLUMNS = (
    "id, xid, device_id, stream_id, sequence, capture_time, receive_time, type, track_id, text, normalized_text, "
    "confidence, polygon, frame_width, frame_height, bundle, backend, precision, previous_text, frame_sequence"
)
_INDEXES = {
    "ix_events_capture_time_id": ["capture_time", "id"],
    "ix_events_normalized_text_capture_time": ["normalized_text", "capture_time"],
    "ix_events_xid_id": ["xid", "id"],
}


def _events(name: str, partitioned: bool) -> None:
    key = ["device_id", "stream_id", "sequence"] + (["capture_time"] if partitioned else [])
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger, nullable=False, server_default=sa.text("nextval('events_id_seq')")),
        sa.Column("xid", sa.BigInteger, nullable=False, server_default=sa.text("(pg_current_xact_id()::text::bigint)")),
        sa.Column("device_id", _Id, nullable=False),
        sa.Column("stream_id", _Id, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("capture_time", sa.Double, nullable=False),
        sa.Column("receive_time", sa.Double, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("track_id", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("normalized_text", sa.Text(collation="C"), nullable=False),
        sa.Column("confidence", sa.Double, nullable=False),
        sa.Column("polygon", sa.JSON, nullable=True),
        sa.Column("frame_width", sa.Integer, nullable=False),
        sa.Column("frame_height", sa.Integer, nullable=False),
        sa.Column("bundle", sa.String(128), nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("precision", sa.JSON, nullable=True),
        sa.Column("previous_text", sa.Text, nullable=False),
        sa.Column("frame_sequence", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*(["id", "capture_time"] if partitioned else ["id"]), name="pk_events"),
        sa.UniqueConstraint(*key, name="uq_events_device_id_stream_id_sequence"),
        **({"postgresql_partition_by": "RANGE (capture_time)"} if partitioned else {}),  # type: ignore[arg-type]
    )
    if partitioned:
        op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    for index, columns in _INDEXES.items():
        op.create_index(index, "events", columns)


def _rebuild(partitioned: bool) -> None:
    """Move events into a new table of the other shape: rename, create, copy, drop; the id sequence is kept."""
    op.execute("ALTER TABLE events RENAME TO events_old")
    for name in ["pk_events", "uq_events_device_id_stream_id_sequence", *_INDEXES]:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
    _events("events", partitioned)
    op.execute(f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM events_old")
    op.execute("DROP TABLE events_old")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(partitioned=False)
