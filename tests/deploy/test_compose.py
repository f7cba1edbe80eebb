"""deploy/compose.yaml parses and its cross-references hold: the files it mounts and builds from exist, ports and
the cache URL name services and ports that exist, Prometheus scrapes the edge server's metrics port and its
config (with the alert rules) passes promtool."""

from __future__ import annotations

import re
import subprocess

import yaml

from edge_runtime.config import from_env
from server.config import ServerConfig
from tests.conftest import REPO
from tests.deploy.test_k8s import _image_env
from tests.services import require_binary

DEPLOY = REPO / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_services_and_dependencies() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"edge", "prometheus", "redis"}
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, (name, dependency)
    text = (DEPLOY / "compose.yaml").read_text()
    assert "# central:" in text and "# postgres:" in text  # placeholders for the fleet issue


def test_files_it_builds_from_and_mounts_exist() -> None:
    build = COMPOSE["services"]["edge"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    assert build["args"]["FLAVOUR"] in ("cpu", "gpu")
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name} mounts a missing {source}"


def _published(service: dict) -> dict[int, tuple[str, int]]:
    out = {}
    for item in service.get("ports", []):
        host, host_port, container_port = item.split(":")
        out[int(container_port)] = (host, int(host_port))
    return out


def test_the_edge_server_accepts_its_environment_and_publishes_its_ports_on_loopback() -> None:
    edge = COMPOSE["services"]["edge"]
    env = {**_image_env(), **edge["environment"]}
    config = from_env(ServerConfig, environ=env)
    config.check_listen()  # [::] with OCR_INSECURE=1 (published on loopback only) or a tokens file
    ports = _published(edge)
    assert set(ports) == {config.port, config.http_port, config.metrics_port}
    assert all(host == "127.0.0.1" for host, _ in ports.values())
    for service in COMPOSE["services"].values():
        assert all(host == "127.0.0.1" for host, _ in _published(service).values())
    assert edge["read_only"] is True and "/tmp" in edge["tmpfs"]


def test_the_cache_url_names_the_redis_service() -> None:
    edge, redis = COMPOSE["services"]["edge"], COMPOSE["services"]["redis"]
    url = from_env(ServerConfig, environ={**_image_env(), **edge["environment"]}).cache_url
    host, port = re.fullmatch(r"redis://([\w-]+):(\d+)/\d+", url).groups()
    assert host == "redis" and port in redis["expose"]
    assert "--save" in redis["command"] and "--appendonly" in redis["command"]  # a cache: nothing on disk


def test_prometheus_scrapes_the_edge_metrics_port_with_the_alert_rules() -> None:
    prometheus = COMPOSE["services"]["prometheus"]
    mounts = dict(v.split(":")[:2] for v in prometheus["volumes"])
    config_file = next(c for c in prometheus["command"] if c.startswith("--config.file=")).split("=", 1)[1]
    local_config = next(DEPLOY / src for src, dst in mounts.items() if dst == config_file)
    scrape = yaml.safe_load(local_config.read_text())
    targets = [t for job in scrape["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    metrics_port = from_env(ServerConfig, environ={**_image_env(), "OCR_INSECURE": "1"}).metrics_port
    assert f"edge:{metrics_port}" in targets
    for rules in scrape["rule_files"]:  # relative to the config file, mounted beside it
        dst = config_file.rsplit("/", 1)[0] + "/" + rules
        assert dst in mounts.values(), f"{rules} is not mounted beside the config"
    promtool = require_binary("promtool")
    checked = subprocess.run(
        [promtool, "check", "config", str(local_config)], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
