"""A real server (port 0, real default models) shared by the client tests of one module."""

from __future__ import annotations

import pytest

from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine


@pytest.fixture(scope="module")
def served():
    server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0))
    yield server
    server.stop()
