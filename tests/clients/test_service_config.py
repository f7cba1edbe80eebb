"""The clients' one service config: the same in Python and Node, naming only unary calls that exist, and keepalive
pings the server tolerates."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from clients.ocr_client import service_config
from clients.ocr_client.client import _loopback, _target_hosts
from clients.ocr_client.pb import fleet_pb2, ocr_pb2
from server.config import ServerConfig
from tests.conftest import REPO

NODE_DIR = REPO / "clients" / "node"


def test_retried_methods_exist_and_are_unary() -> None:
    services = {
        d.services_by_name[name].full_name: d.services_by_name[name]
        for d, name in ((ocr_pb2.DESCRIPTOR, "OcrService"), (fleet_pb2.DESCRIPTOR, "FleetService"))
    }
    for service, methods in service_config.RETRIED_METHODS.items():
        for method in methods:
            descriptor = services[service].methods_by_name[method]
            assert not descriptor.client_streaming and not descriptor.server_streaming, method
    assert "ReportEvents" not in service_config.RETRIED_METHODS["fleet.v1.FleetService"]
    assert "DeleteDeviceData" not in service_config.RETRIED_METHODS["fleet.v1.FleetService"]


def test_retries_are_on_unavailable_only_and_budgeted() -> None:
    (config,) = service_config.SERVICE_CONFIG["methodConfig"]
    assert config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert 2 <= config["retryPolicy"]["maxAttempts"] <= 5  # gRPC caps attempts at 5
    assert service_config.SERVICE_CONFIG["retryThrottling"]["maxTokens"] > 0


def test_client_keepalive_is_slower_than_the_server_allows() -> None:
    assert ServerConfig().keepalive_min_ping_s <= service_config.KEEPALIVE_TIME_S
    from fleet.agent.agent import CHANNEL_OPTIONS

    agent_ping_ms = dict(CHANNEL_OPTIONS)["grpc.keepalive_time_ms"]
    assert agent_ping_ms >= ServerConfig().keepalive_min_ping_s * 1000


def test_node_uses_the_same_service_config() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = (
        "const c = require('./src/channel.js'); console.log(JSON.stringify([c.SERVICE_CONFIG, c.KEEPALIVE_TIME_MS]))"
    )
    out = subprocess.run([node, "-e", script], cwd=NODE_DIR, capture_output=True, text=True, check=True).stdout
    config, keepalive_ms = json.loads(out)
    assert config == service_config.SERVICE_CONFIG
    assert keepalive_ms == service_config.KEEPALIVE_TIME_S * 1000


@pytest.mark.parametrize(
    ("target", "hosts", "loopback"),
    [
        ("localhost:50051", ["localhost"], True),
        ("dns:///ocr.example:50051", ["ocr.example"], False),
        ("dns://8.8.8.8/localhost:50051", ["localhost"], True),
        ("ipv4:127.0.0.1:50051,127.0.0.2:50051", ["127.0.0.1", "127.0.0.2"], True),
        ("ipv4:127.0.0.1:50051,10.0.0.2:50051", ["127.0.0.1", "10.0.0.2"], False),
        ("ipv6:[::1]:50051", ["::1"], True),
        ("[::1]:50051", ["::1"], True),
    ],
)
def test_target_uris_name_their_hosts(target: str, hosts: list[str], loopback: bool) -> None:
    """A token sent in plain text is warned about unless every address of the target is this machine's."""
    assert _target_hosts(target) == hosts
    assert _loopback(target) is loopback


def test_node_channel_accepts_the_config_and_any_target_uri() -> None:
    """clients/node/test-channel: grpc-js parses the service config; host:port, dns:/// and ipv4: lists open."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", "test-channel/"], cwd=NODE_DIR, capture_output=True, text=True
    )
    assert done.returncode == 0 and "# pass 2" in done.stdout and "# fail 0" in done.stdout, done.stdout
