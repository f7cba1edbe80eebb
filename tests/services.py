"""Real services for tests, from Debian's packages: Prometheus (and promtool), Redis and PostgreSQL, started on
loopback ports with temporary config and data, stopped after the test module (PostgreSQL: after the session).

A missing package is installed by ``scripts/services.sh`` (apt-get; root). Where that fails (no network, no
root) the test skips with the reason; ``OCR_REQUIRE_SERVICES=1`` (set by ``.ci/run``) turns the skip into a
failure, so CI always runs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

__all__ = [
    "require_binary",
    "free_port",
    "Prometheus",
    "start_prometheus",
    "Redis",
    "start_redis",
    "Postgres",
    "start_postgres",
    "postgres_bin_dir",
]

_PACKAGE_OF = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "redis-server": "redis",
    "postgresql": "postgresql",
    "chromium": "chromium",
}
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
            run = subprocess.run(
                ["bash", str(REPO / "scripts" / "services.sh"), service], capture_output=True, text=True, timeout=600
            )
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


def start_prometheus(
    root: Path, targets: list[str], rule_files: list[Path] = (), interval_s: float = 1.0
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
        + f"      - targets: {json.dumps(targets)}\n"
    )
    log = root / "prometheus.log"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=root,
    )
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
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--protected-mode",
            "yes",
            "--maxmemory",
            "64mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ],
        stdout=(root / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    _wait_port(port, process, "redis-server")
    return Redis(process, port)


def _find_postgres() -> Path | None:
    """Debian keeps the server binaries off PATH, in /usr/lib/postgresql/<major>/bin (the newest is taken)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres are, installed through scripts/services.sh when missing; else a skip (a
    failure under OCR_REQUIRE_SERVICES=1)."""
    found = _find_postgres()
    if found is None:
        if "postgresql" not in _tried:
            try:
                run = subprocess.run(
                    ["bash", str(REPO / "scripts" / "services.sh"), "postgresql"],
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                _tried["postgresql"] = None if run.returncode == 0 else (run.stderr or run.stdout).strip()[-300:]
            except (OSError, subprocess.TimeoutExpired) as exc:
                _tried["postgresql"] = str(exc)
        found = _find_postgres()
    if found is None:
        _unavailable(
            f"PostgreSQL is not installed and scripts/services.sh could not install it: {_tried.get('postgresql')}"
        )
    return found


@dataclass
class Postgres:
    """A PostgreSQL server of the tests: its data directory survives restart() (same port), stop() removes it."""

    bin_dir: Path
    home: Path  # data, socket and log; owned by the user the server runs as
    port: int
    as_user: tuple[str, ...]  # the command prefix that runs as that user (initdb refuses root)

    @property
    def url(self) -> str:
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, timeout_s: float = 60) -> None:
        run = subprocess.run(
            [*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.home / "data"), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if run.returncode != 0:
            log = self.home / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"pg_ctl {args[-1]} failed: {run.stderr.strip()[-1000:]}\n{tail}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._ctl("-l", str(self.home / "postgres.log"), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Fast shutdown (open sessions are ended, committed data kept); the data directory is kept."""
        self._ctl("-m", "fast", "-w", "-t", "60", "stop")

    def restart(self) -> None:
        """Stop and start on the same data and port: clients lose their connections, the data stays."""
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        """A new, empty database ``name``; returns its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def destroy(self) -> None:
        """Stop (when running) and remove the data directory."""
        if (self.home / "data" / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError):
                self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def start_postgres(root: Path) -> Postgres:
    """A PostgreSQL on a free loopback port, trust auth for loopback only, fsync off (test speed; commits are
    still written before they return, so a restart keeps them). As root, the server runs as Debian's
    ``postgres`` user in a temporary folder of its own (``root`` is not readable by it); else under ``root``."""
    bin_dir = postgres_bin_dir()
    if os.geteuid() == 0:
        home = Path(tempfile.mkdtemp(prefix="edge-ocr-pg-"))
        shutil.chown(home, "postgres", "postgres")
        as_user: tuple[str, ...] = ("runuser", "-u", "postgres", "--")
    else:
        home = Path(tempfile.mkdtemp(prefix="pg-", dir=root))
        as_user = ()
    init = subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(home / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(home, ignore_errors=True)
        raise AssertionError(f"initdb failed: {init.stderr.strip()[-1500:]}")
    # Loopback only: the server listens on 127.0.0.1 and its own socket folder; nothing else is allowed.
    (home / "data" / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    pg = Postgres(bin_dir, home, free_port(), as_user)
    try:
        pg.start()
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    return pg
