"""Opening the database: URL forms, SQLite's pragmas and transaction mode, PostgreSQL through psycopg 3, and the
Alembic upgrade to head that every open runs (a fresh database and an older one both end at head).

SQLite: WAL, ``synchronous=FULL``. An acknowledgement lets the agent delete its copy, so what the central
acknowledged must survive the machine losing power, not only the process being killed: WAL with NORMAL survives a
SIGKILL but may lose the last commits on power loss; FULL syncs the WAL on every commit (one fsync per report).
Write transactions start with BEGIN IMMEDIATE (one writer at a time, across processes too); reads are deferred.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

__all__ = ["make_engine", "upgrade", "head_revision", "current_revision", "alembic_config", "MIGRATE_LOCK"]

MIGRATE_LOCK = 7_114_011  # PostgreSQL advisory lock key: one migrator at a time
_BUSY_TIMEOUT_MS = 30_000


class StoreUrlError(ValueError):
    """A fleet store URL that names no store this project speaks; ``reason`` as every start-up failure has one."""

    reason = "FLEET_STORE_INVALID"

    @property
    def message(self) -> str:
        return str(self.args[0])


def _url(url: str) -> sa.URL:
    if "://" not in url:  # a plain filesystem path: a SQLite file
        return sa.URL.create("sqlite", database=str(Path(url).expanduser()))
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise StoreUrlError(f"fleet store URL must be sqlite:///PATH or postgresql://... (got {parsed.drivername})")
    return parsed


def make_engine(url: str) -> sa.Engine:
    """An Engine for ``url``; writers use ``engine.execution_options(begin="IMMEDIATE")`` on SQLite."""
    parsed = _url(url)
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_size=8, max_overflow=24, pool_pre_ping=False)
    database = parsed.database or ":memory:"
    memory = database == ":memory:"
    if not memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000},
        poolclass=sa.pool.StaticPool if memory else sa.pool.QueuePool,
        **({} if memory else {"pool_size": 8, "max_overflow": 8}),
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (pysqlite's own is deferred and late)
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("begin") == "IMMEDIATE" else "BEGIN")

    return engine


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's Config for the store's migrations, optionally bound to ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # only when migrations/versions is empty: a broken install
        raise RuntimeError("the fleet store's migrations have no head revision")
    return head


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine) -> None:
    """``alembic upgrade head`` in one transaction, one migrator at a time (advisory lock / BEGIN IMMEDIATE)."""
    with engine.execution_options(begin="IMMEDIATE").begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK})
        if current_revision(conn) == head_revision():
            return
        command.upgrade(alembic_config(conn), "head")
