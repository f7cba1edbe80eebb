"""One real server per test module (port 0, real default models, engine shared with the in-process reference)."""

from __future__ import annotations

import pytest

from clients.ocr_client import OcrClient
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine

TEST_CONFIG = ServerConfig(
    host="127.0.0.1", port=0, max_message_bytes=4 * 1024 * 1024, max_batch_images=8, max_concurrent_rpcs=32
)


@pytest.fixture(scope="module")
def served():
    server = ServerThread(get_engine, TEST_CONFIG)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(served):
    with OcrClient(served.target, timeout=120, max_message_bytes=64 * 1024 * 1024) as c:
        yield c
