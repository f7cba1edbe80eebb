"""The central fleet store: ``open_store(url)`` opens (and migrates to head) a SQLite file or a PostgreSQL database
and returns a ``fleet.model.FleetStore``.

URLs: ``sqlite:///path/fleet.db`` (the embedded default; a plain filesystem path means the same),
``postgresql://...`` or ``postgresql+psycopg://...`` (psycopg 3).
"""

from __future__ import annotations

from fleet.store.engine import make_engine, upgrade
from fleet.store.store import SqlStore

__all__ = ["open_store", "SqlStore"]


def open_store(url: str, retention_s: float = 0.0) -> SqlStore:
    """The store at ``url``, its schema upgraded to the newest migration; ``retention_s`` 0 keeps events forever."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return SqlStore(engine, retention_s)
