"""WatchEvents cursors: one integer that orders events the way a watcher may read them, on any replica.

SQLite has one writer, so ``events.id`` is its commit order and the cursor is the id. On PostgreSQL ids come from a
sequence in insert order, not commit order, so the cursor is (xid, id) packed as ``xid << 64 | id``: each row
keeps its transaction's id (``pg_current_xact_id()``), and a watcher reads only rows of transactions older than
``pg_snapshot_xmin(pg_current_snapshot())``, all of them finished. A transaction still running, or one that starts
later, has an xid at or above that bound, so no row ever lands behind a cursor a watcher already holds, and the
replicas' commits need no lock between them. The packed form stays one decimal string on the wire and keeps
plain-id cursors of before (xid 0) meaningful.
"""

from __future__ import annotations

__all__ = ["pack", "unpack", "MAX_ID", "MAX_DIGITS"]

MAX_ID = (1 << 63) - 1  # events.id is a BIGINT
MAX_DIGITS = 39  # decimal digits of the largest packed cursor (below 2**128)


def pack(xid: int, id_: int) -> int:
    return (int(xid) << 64) | int(id_)


def unpack(cursor: int) -> tuple[int, int]:
    """(xid, id) of ``cursor``; a plain id (an older cursor, or SQLite's) has xid 0."""
    return cursor >> 64, cursor & ((1 << 64) - 1)
