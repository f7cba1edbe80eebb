"""Fleet fixtures: ``store_url`` runs a test on a SQLite file and on PostgreSQL (one server for the session, a
fresh database per test; skipped with the reason where PostgreSQL cannot be installed, failed under
OCR_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.services import Postgres, start_postgres

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Postgres:
    """The session's PostgreSQL server (started on first use)."""
    pg = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield pg
    pg.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fleet.db'}"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.create_database(f"fleet_{next(_databases)}")
