"""Replicas behind one target: calls spread evenly, a replica added mid-run gets calls, a drained one costs none.

Three `python -m server` processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (each its own free port) and one target
``ipv4:127.0.0.1:P1,127.0.0.2:P2,127.0.0.3:P3,127.0.0.4:P4`` that lists a fourth address from the start: nothing
listens there until the fourth replica is started mid-run (a static list, not a DNS name whose answer changes;
the clients' reconnect backoff, at most 10 s, finds it). Every server runs with ``--max-connection-age 3s``.

Eight clients, each on its own channel with its own connections (``grpc.use_local_subchannel_pool``, as eight
processes would have), call Recognize on a line crop (``--skip-detection``: cheap); so does one Node client, calls
one after another. Each replica's share comes from its own ``ocr_calls_total`` on its metrics port. No call may
fail anywhere in the run: not while the fourth replica loads its models (it refuses UNAVAILABLE / MODEL_NOT_READY,
the clients retry elsewhere), not while one replica is SIGTERMed and drains (GOAWAY, then UNAVAILABLE /
SHUTTING_DOWN, retried elsewhere).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clients.ocr_client import OcrCallError, OcrClient
from clients.ocr_client.client import open_channel
from clients.ocr_client.service_config import MAX_RECONNECT_BACKOFF_S
from tests.conftest import REPO
from tests.fleet.processes import Process

AGE_S = 3.0
CLIENTS = 8
CALLS_PER_CLIENT = 18  # the share phase: 144 calls over three replicas
LINE_PATH = Path(REPO) / "samples" / "line.png"
LINE = LINE_PATH.read_bytes()
NODE_DIR = Path(REPO) / "clients" / "node"
NODE_CALLS_MADE = 30
NODE_CALLS = f"""
const fs = require('node:fs');
const {{ OcrClient }} = require('./src/index.js');
(async () => {{
  const [target, image] = process.argv.slice(1);
  const client = new OcrClient(target);
  const line = fs.readFileSync(image);
  for (let i = 0; i < {NODE_CALLS_MADE}; i += 1) await client.recognize(line, {{ skipDetection: true }});
  client.close();
}})().catch((error) => {{ console.error(error); process.exit(1); }});
"""


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Replica(Process):
    """One server on its own loopback address, with its metrics port on the same address."""

    def __init__(self, host: str) -> None:
        self.host, self.port, self.metrics_port = host, _free_port(host), _free_port(host)
        # a port picked now and bound later: another process could take it between, which the start would show
        super().__init__(
            [
                sys.executable,
                "-m",
                "server",
                "--host",
                host,
                "--port",
                str(self.port),
                "--metrics-host",
                host,
                "--metrics-port",
                str(self.metrics_port),
                "--max-connection-age",
                f"{AGE_S}s",
                "--threads",
                "1",
                "--calls-per-s",
                "0",
                "--grace-s",
                "20",
            ],
            r"ocr server ready",
            timeout=180.0,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def served(self) -> int:
        """Recognize calls this replica answered OK (its ocr_calls_total)."""
        url = f"http://{self.host}:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, sample.labels.get("method"), sample.labels.get("code"))
                if key == ("ocr_calls_total", "Recognize", "OK"):
                    return int(sample.value)
        return 0


class Load:
    """Eight clients calling Recognize in threads, until stopped or each has made ``calls`` calls."""

    def __init__(self, clients: list[OcrClient]) -> None:
        self.clients = clients
        self.ok = 0
        self.empty = 0  # answers without text: the line crop must read as text on every replica
        self.failures: list[OcrCallError] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self, client: OcrClient, calls: int | None) -> None:
        made = 0
        while not self._stop.is_set() and (calls is None or made < calls):
            try:
                result = client.recognize(LINE, skip_detection=True)
                with self._lock:
                    self.ok += 1
                    self.empty += not result.lines
            except OcrCallError as exc:
                with self._lock:
                    self.failures.append(exc)
            made += 1

    def start(self, calls: int | None = None) -> Load:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, args=(c, calls), daemon=True) for c in self.clients]
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self._threads:
            thread.join(300)

    def stop(self) -> None:
        self._stop.set()
        self.join()


def _start_all(replicas: list[Replica]) -> None:
    errors: list[BaseException] = []

    def start(replica: Replica) -> None:
        try:
            replica.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _wait_until(condition, timeout_s: float, every_s: float = 0.1) -> float | None:
    """Seconds until ``condition()`` held, or None after ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if condition():
            return time.monotonic() - start
        time.sleep(every_s)
    return None


@pytest.fixture
def replicas():
    try:
        hosts = [f"127.0.0.{n}" for n in (1, 2, 3, 4)]
        for host in hosts:
            _free_port(host)
    except OSError as exc:  # pragma: no cover - Linux routes all of 127.0.0.0/8 to loopback
        pytest.skip(f"this machine has no loopback address {host}: {exc}")
    made = [Replica(h) for h in hosts]
    yield made
    for replica in made:
        replica.stop()


def test_replicas_share_calls_take_a_new_replica_and_drain_without_a_failed_call(replicas) -> None:
    first, second, third, fourth = replicas
    _start_all([first, second, third])
    target = "ipv4:" + ",".join(r.address for r in replicas)
    clients = [
        OcrClient(target, timeout=60, channel=open_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]))
        for _ in range(CLIENTS)
    ]
    load = Load(clients)
    try:
        # 1. the share: 144 calls over three replicas, 48 each expected
        before = [r.served() for r in replicas[:3]]
        load.start(CALLS_PER_CLIENT).join()
        shares = [r.served() - b for r, b in zip(replicas[:3], before, strict=True)]
        expected = CLIENTS * CALLS_PER_CLIENT / 3
        assert not load.failures, load.failures[:3]
        assert sum(shares) == CLIENTS * CALLS_PER_CLIENT, shares
        assert all(abs(s - expected) <= 0.25 * expected for s in shares), f"per-replica calls {shares}"

        # 1b. the Node client's channel spreads its calls too (one client, calls one after another)
        node = shutil.which("node")
        if node is not None and (NODE_DIR / "node_modules").is_dir():
            before = [r.served() for r in replicas[:3]]
            subprocess.run([node, "-e", NODE_CALLS, target, str(LINE_PATH)], cwd=NODE_DIR, check=True, timeout=120)
            shares = [r.served() - b for r, b in zip(replicas[:3], before, strict=True)]
            assert sum(shares) == NODE_CALLS_MADE and min(shares) >= NODE_CALLS_MADE / 3 * 0.75, shares

        # 2. a fourth replica, started under load, gets calls within the age plus the reconnect backoff and margin
        load.start()
        fourth.start()
        bound = AGE_S + MAX_RECONNECT_BACKOFF_S + 10.0
        took = _wait_until(lambda: fourth.served() > 0, bound)
        assert took is not None, f"the fourth replica served nothing {bound:.0f} s after it was ready"
        assert not load.failures, load.failures[:3]

        # 3. one replica drains (SIGTERM) under load: no call fails, the others take its share
        served_elsewhere = sum(r.served() for r in (second, third, fourth))
        first.process.terminate()
        assert first.process.wait(60) == 0, first.tail()
        assert _wait_until(lambda: sum(r.served() for r in (second, third, fourth)) > served_elsewhere + 40, 60)
        load.stop()
        assert not load.failures, [f"{f.code.name} {f.reason}" for f in load.failures[:5]]
        assert load.ok > CLIENTS * CALLS_PER_CLIENT + 40 and load.empty == 0
    finally:
        load.stop()
        for client in clients:
            client.close()
