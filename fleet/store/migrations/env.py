"""Alembic environment of the fleet store: runs on the connection ``fleet.store`` hands over (open_store)."""

from __future__ import annotations

from alembic import context

from fleet.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the store always passes its connection
    raise RuntimeError("fleet.store migrations run through fleet.store.open_store (no connection given)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
