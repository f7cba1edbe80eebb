"""Real services for tests, from Debian's packages: Prometheus (and promtool) and Redis, started on loopback ports
with temporary config and data, stopped after the test module.

A missing package is installed by ``scripts/services.sh`` (apt-get; root). Where that fails (no network, no
root) the test skips with the reason; ``OCR_REQUIRE_SERVICES=1`` (set by ``.ci/run``) turns the skip into a
failure, so CI always runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

__all__ = ["require_binary", "free_port", "Prometheus", "start_prometheus", "Redis", "start_redis"]

_PACKAGE_OF = {"prometheus": "prometheus", "promtool": "prometheus", "redis-server": "redis"}
_tried: dict[str, str | None] = {}


def _unavailable(why: str) -> None:
    if os.environ.get("OCR_REQUIRE_SERVICES") == "1":
        pytest.fail(why + " and OCR_REQUIRE_SERVICES=1 requires it")
    pytest.skip(why)


def require_binary(name: str) -> str:
    """The path of ``name`` (prometheus, promtool, redis-server), installed through scripts/services.sh when
    missing; else a skip (a failure under OCR_REQUIRE_SERVICES=1)."""
    path = shutil.which(name)
    if path:
        return path
    service = _PACKAGE_OF[name]
    if service not in _tried:
        try:
            run = subprocess.run(["bash", str(REPO / "scripts" / "services.sh"), service], capture_output=True,
                                 text=True, timeout=600)
            _tried[service] = None if run.returncode == 0 else (run.stderr or run.stdout).strip()[-300:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            _tried[service] = str(exc)
    path = shutil.which(name)
    if path:
        return path
    _unavailable(f"{name} is not installed and scripts/services.sh could not install it: {_tried[service]}")
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, process: subprocess.Popen, what: str, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class Prometheus:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as reply:
            body = json.load(reply)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def stop(self) -> None:
        _stop(self.process)


def start_prometheus(root: Path, targets: list[str], rule_files: list[Path] = (), interval_s: float = 1.0
                     ) -> Prometheus:
    """A Prometheus on a free loopback port that scrapes ``targets`` (host:port of /metrics) every
    ``interval_s``, with its data under ``root``."""
    binary = require_binary("prometheus")
    port = free_port()
    config = root / "prometheus.yml"
    rules = "".join(f"  - {Path(r).resolve()}\n" for r in rule_files)
    config.write_text(
        f"global:\n  scrape_interval: {interval_s}s\n  evaluation_interval: {interval_s}s\n"
        + (f"rule_files:\n{rules}" if rules else "")
        + "scrape_configs:\n  - job_name: edge-ocr\n    static_configs:\n"
        + f"      - targets: {json.dumps(targets)}\n")
    log = root / "prometheus.log"
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=root)
    try:
        _wait_port(port, process, "prometheus")
    except AssertionError:
        _stop(process)
        raise AssertionError(f"prometheus did not start: {log.read_text()[-2000:]}") from None
    return Prometheus(process, port, log)


@dataclass
class Redis:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        _stop(self.process)


def start_redis(root: Path) -> Redis:
    """A Redis on a free loopback port, in memory only (no RDB, no AOF), its files under ``root``."""
    binary = require_binary("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(root), "--protected-mode", "yes", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"],
        stdout=(root / "redis.log").open("wb"), stderr=subprocess.STDOUT, cwd=root)
    _wait_port(port, process, "redis-server")
    return Redis(process, port)
