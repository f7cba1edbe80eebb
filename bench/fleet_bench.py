"""Fleet central at scale: simulated edge devices (several camera streams each) report through real gRPC
ReportEvents to a central server process (``python -m server --role central``) on SQLite and on PostgreSQL.
Per store and offered rate: sustained events/s, p50/p99 acknowledgement latency, the central's CPU and RSS,
PostgreSQL's CPU, the load processes' CPU and the rest of the box's (every CPU figure is a share of all the box's
cores, read from /proc/PID/stat through psutil; on a shared box other work skews every figure, so it is shown).

    python -m bench.fleet_bench [--stores sqlite,postgresql] [--devices 200] [--streams 4] [--rates 5000]
                                [--duration 30] [--warmup 5] [--window 4] [--linger 0.2] [--max-batch 500]
                                [--procs 1] [--centrals 1,2] [--pg-fsync on|off] [--postgres-url URL]
                                [--out bench/out/fleet]

Each device is a thread driving the client library's ``FleetClient.report_session`` the way the agent's uploader
does: a hello, then batches of what is pending (at most ``max_batch`` events, the device's status with each) while
fewer than ``window`` await their acknowledgement, the oldest's acknowledgement awaited while any are in flight, and
after an idle spell the next event waits ``linger`` for company. Events are produced open-loop at rate/devices per
second (round-robin over the device's streams, gap-free sequences), so a central that falls behind sees bigger
batches, as it would from real agents. Acknowledgement latency is per request, from its send to its answer (which
the central sends after the commit); "event p99" adds the time the oldest event of a request waited on the device.
"Sustained" means the acknowledged rate kept up with the offered one (>= 97 %) and the device backlog stayed
bounded. The load processes share the box with the central: their CPU is in the table.

``--centrals 1,2``: each run starts that many central processes on the same store (replicas; PostgreSQL only, as
SQLite has one writer), device i reporting to central i mod N. Their CPU is summed, their RSS is the largest.

PostgreSQL: without ``--postgres-url``, Debian's server (``/usr/lib/postgresql/*/bin``) is started on a loopback
port in a temporary directory with fsync and synchronous_commit ON (``--pg-fsync off`` for comparison only: an
acknowledgement must survive power loss). SQLite runs WAL with synchronous=FULL (the store's only mode). Every run
gets a fresh database and a fresh central process. Output: a Markdown table on stdout, ``fleet_bench.md`` and
``fleet_bench.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
import psutil

from bench.grpc_bench import ServerProcess
from clients.ocr_client.client import open_channel
from clients.ocr_client.fleet import FleetClient
from clients.ocr_client.fleet_types import EVENT_TYPES, DeviceStatus, Event

__all__ = ["main", "run_load", "percentile", "markdown", "BenchPostgres"]

REPO = Path(__file__).resolve().parents[1]
PLATES = [
    f"{a}{b}{n:02d}{c}{d}{e}"
    for a, b, n, c, d, e in zip(
        "KLMNPRSTVW" * 50,
        "XYZABCDEFG" * 50,
        range(500),
        "ABCDEFGHJK" * 50,
        "LMNPRSTUVW" * 50,
        "QRSTUVWXYZ" * 50,
        strict=True,
    )
]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# ---- the simulated devices (run in worker processes) ----------------------------------------------------------


@dataclass(frozen=True)
class Load:
    targets: Sequence[str]  # the centrals; device i reports to targets[i % len(targets)]
    devices: Sequence[tuple[str, str]]  # (device id, its bearer token)
    streams: int
    rate_per_device: float
    duration_s: float
    warmup_s: float
    window: int
    linger_s: float
    max_batch: int


PRECISION = {"det": "int8", "cls": "fp32", "rec": "int8"}
STATUS = DeviceStatus(
    bundle="ppocrv5-mobile", backend="openvino", precision=PRECISION, software_version="0.1.0", drops={"OUTBOX_FULL": 0}
)
POLYGON = ((10.0, 20.0), (110.0, 20.0), (110.0, 52.0), (10.0, 52.0))


def _event(index: int, j: int, streams: int, at: float) -> Event:
    """The device's j-th event (0-based, round-robin over its streams: gap-free sequences per stream)."""
    return Event(
        stream_id=f"cam-{j % streams}",
        sequence=j // streams + 1,
        capture_time=at,
        type=EVENT_TYPES[(j // streams) % 4],
        track_id=j // (4 * streams),
        text=PLATES[(index * 7 + j // (4 * streams)) % len(PLATES)],
        confidence=0.93,
        polygon=POLYGON,
        frame_width=1920,
        frame_height=1080,
        bundle="ppocrv5-mobile",
        backend="openvino",
        precision=PRECISION,
        frame_sequence=j,
    )


def _device(
    client: FleetClient, load: Load, index: int, t0: float, wall0: float, out: dict, lock: threading.Lock
) -> None:
    """One device, as the agent's uploader drives its ReportSession: a hello, then while events are pending and
    fewer than ``window`` batches await their acknowledgement, send a batch (at most ``max_batch`` events, the
    device's status with it); with batches in flight, wait for the oldest's acknowledgement; when all is sent
    and acknowledged, wait for the next event and then ``linger`` for others to join it. Events are produced
    open-loop at the device's rate, so a central that falls behind sees bigger batches, as from real agents."""
    device = load.devices[index][0]
    rate, streams = load.rate_per_device, load.streams
    measure_from, end = t0 + load.warmup_s, t0 + load.warmup_s + load.duration_s
    ack_s, event_s, sizes = [], [], []
    stored = stored_in_window = anomalies = 0
    session = client.report_session(device)
    try:
        session.send(0, status=STATUS)
        if session.receive(60)[1].acks:
            raise RuntimeError(f"{device}: the store already holds its streams")
        time.sleep(max(0.0, t0 - time.monotonic()) + (index % 97) / 97 * load.linger_s)  # spread the phases
        inflight: deque[tuple[int, float, float, int]] = deque()  # (batch, sent at, oldest event due at, events)
        sent = batch = 0
        while True:
            now = time.monotonic()
            if now >= end and not inflight:
                break
            while now < end and len(inflight) < load.window:
                due = min(int((now - t0) * rate), sent + load.max_batch)
                if due <= sent:
                    break
                batch += 1
                events = [_event(index, j, streams, wall0 + j / rate) for j in range(sent, due)]
                status = dataclasses.replace(STATUS, backlog_events=int((now - t0) * rate) - due)
                inflight.append((batch, time.monotonic(), t0 + sent / rate, due - sent))
                session.send(batch, events, (), status)
                sent = due
            if inflight:
                answered, result = session.receive(120)
                at = time.monotonic()
                number, sent_at, due_at, n = inflight.popleft()
                if answered != number or result.stored != n or result.duplicates or result.out_of_order:
                    anomalies += 1
                stored += result.stored
                if measure_from <= at < end:
                    stored_in_window += result.stored
                if measure_from <= sent_at < end:
                    ack_s.append(at - sent_at)
                    event_s.append(at - due_at)
                    sizes.append(n)
                continue
            time.sleep(max(0.0, t0 + (sent + 1) / rate - now) + load.linger_s)
    finally:
        session.close()
    with lock:
        out["stored"] += stored
        out["stored_in_window"] += stored_in_window
        out["anomalies"] += anomalies
        out["backlog_at_end"] += max(0, int((end - t0) * rate) - sent)
        out["ack_s"] += ack_s
        out["event_s"] += event_s
        out["batch_events"] += sizes


def _run_devices(load: Load, ready: Callable[[], None], go: Callable[[], Any]) -> dict:
    """This process's devices, a thread each, over a few shared channels (a FleetClient per device: its own
    token, so each reports only as itself)."""
    n = len(load.targets)
    per_target = max(1, len(load.devices) // (25 * n))
    channels = [open_channel(t) for t in load.targets for _ in range(per_target)]  # target k: k*per_target + ...
    for c in channels:
        grpc.channel_ready_future(c).result(timeout=30)
    clients = [
        FleetClient(load.targets[i % n], channel=channels[(i % n) * per_target + (i // n) % per_target], token=token)
        for i, (_, token) in enumerate(load.devices)
    ]
    out: dict[str, Any] = {
        "stored": 0,
        "stored_in_window": 0,
        "anomalies": 0,
        "backlog_at_end": 0,
        "ack_s": [],
        "event_s": [],
        "batch_events": [],
        "errors": [],
    }
    lock = threading.Lock()
    ready()
    t0 = go()  # a shared monotonic start
    wall0 = time.time() + (t0 - time.monotonic())
    me = psutil.Process()
    cpu_at: list[float] = []

    def sample_cpu() -> None:
        for at in (t0 + load.warmup_s, t0 + load.warmup_s + load.duration_s):
            time.sleep(max(0.0, at - time.monotonic()))
            c = me.cpu_times()
            cpu_at.append(c.user + c.system)

    def run(i: int) -> None:
        try:
            _device(clients[i], load, i, t0, wall0, out, lock)
        except Exception as exc:  # the parent reports it
            with lock:
                out["errors"].append(f"{load.devices[i][0]}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=sample_cpu, daemon=True)]
    threads += [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(load.devices))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in channels:
        c.close()
    out["client_cpu_s"] = cpu_at[1] - cpu_at[0]
    return out


def _worker(load: Load, conn: Connection) -> None:
    """A load process: connect, say ready, wait for the start, run, send the figures back."""
    try:
        result = _run_devices(load, lambda: conn.send("ready"), conn.recv)
        if result["errors"]:
            result = {"error": "; ".join(result["errors"][:5])}
        conn.send(result)
    except BaseException as exc:  # the parent reports it
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


# ---- the services ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchPostgres:
    """Debian's PostgreSQL on a loopback port, its data in a temporary directory; fsync and synchronous_commit ON
    unless ``fsync`` is False. As root it runs as the ``postgres`` user (initdb refuses root)."""

    def __init__(self, fsync: bool = True) -> None:
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        if not found:
            raise SystemExit("PostgreSQL is not installed (bash scripts/services.sh postgresql)")
        self.bin = found[-1].parent
        self.version = self.bin.parent.name
        self.home = Path(tempfile.mkdtemp(prefix="fleet-bench-pg-"))
        self.as_user: tuple[str, ...] = ()
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
            self.as_user = ("runuser", "-u", "postgres", "--")
        self.port = _free_port()
        self.fsync = fsync
        self._run(
            "initdb",
            "-D",
            str(self.home / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        (self.home / "data" / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        onoff = "on" if fsync else "off"
        options = (
            f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c max_connections=300 "
            f"-c fsync={onoff} -c synchronous_commit={onoff} -c full_page_writes={onoff} "
            "-c shared_buffers=256MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.home / "data"),
            "-l",
            str(self.home / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip()[-1500:]}")

    @property
    def pid(self) -> int:
        return int((self.home / "data" / "postmaster.pid").read_text().split()[0])

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.home / "data"), "-m", "fast", "-w", "-t", "60", "stop")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


def _cpu_s(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for p in processes:
        try:
            c = p.cpu_times()
            seconds[p.pid] = c.user + c.system
        except psutil.Error:
            pass
    return seconds


def _tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _commit_seconds(metrics_ports: Sequence[int]) -> tuple[float, float]:
    """(sum, count) of the centrals' ocr_fleet_report_commit_seconds histograms, added up."""
    total = count = 0.0
    for port in metrics_ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        s = re.search(r"^ocr_fleet_report_commit_seconds_sum (\S+)$", text, re.M)
        n = re.search(r"^ocr_fleet_report_commit_seconds_count (\S+)$", text, re.M)
        total, count = total + (float(s.group(1)) if s else 0.0), count + (float(n.group(1)) if n else 0.0)
    return total, count


# ---- one run ----------------------------------------------------------------------------------------------------


def _tokens(path: Path, names: Sequence[str]) -> tuple[list[tuple[str, str]], str]:
    """A tokens file: one token per device (principal = device id, scope fleet.report), as a real fleet has, and one
    for the bench's own questions. Returns the (device, token) pairs and the questions' token."""
    from server.security.tokens import hash_token

    pairs = [(name, secrets.token_urlsafe(24)) for name in names]
    ops = secrets.token_urlsafe(24)
    grants = [{"sha256": hash_token(tok), "principal": name, "scopes": ["fleet.report"]} for name, tok in pairs]
    grants.append({"sha256": hash_token(ops), "principal": "bench-ops", "scopes": ["fleet.query"]})
    path.write_text(json.dumps({"tokens": grants}))
    return pairs, ops


def run_load(
    store: str,
    url: str,
    *,
    devices: int,
    streams: int,
    rate: float,
    duration_s: float,
    warmup_s: float,
    window: int,
    linger_s: float,
    max_batch: int,
    procs: int,
    pg_pid: int | None = None,
    work: Path,
    tag: str = "dev",
    centrals: int = 1,
) -> dict[str, Any]:
    """``centrals`` fresh central processes on ``url``, ``devices`` devices at ``rate`` events/s in total: the row
    of the table. The centrals have credentials (a token per device, as in production), so each device reports
    only as itself."""
    metrics_ports = [_free_port() for _ in range(centrals)]
    pairs, ops = _tokens(work / "tokens.json", [f"{tag}-{i:04d}" for i in range(devices)])
    started: list[ServerProcess] = []
    try:
        for metrics_port in metrics_ports:
            started.append(
                ServerProcess(
                    [
                        "--role",
                        "central",
                        "--fleet-store",
                        url,
                        "--metrics-port",
                        str(metrics_port),
                        "--metrics-host",
                        "127.0.0.1",
                        "--log-format",
                        "json",
                        "--tokens-file",
                        str(work / "tokens.json"),
                    ]
                )
            )
        for central in started:
            with FleetClient(central.target, timeout=30, token=ops) as client:
                end = time.monotonic() + 60
                while client.health() != "SERVING":
                    if time.monotonic() > end:
                        raise RuntimeError("a central did not become SERVING:\n" + "".join(central.log[-20:]))
                    time.sleep(0.2)
        loads = [
            Load(
                [c.target for c in started],
                pairs[k::procs],
                streams,
                rate / devices,
                duration_s,
                warmup_s,
                window,
                linger_s,
                max_batch,
            )
            for k in range(procs)
        ]
        ctx = multiprocessing.get_context("spawn")
        pipes, workers = [], []
        for load in loads:
            parent, child = ctx.Pipe()
            worker = ctx.Process(target=_worker, args=(load, child), daemon=True)
            worker.start()
            pipes.append(parent)
            workers.append(worker)
        for pipe in pipes:
            first = pipe.recv()
            if first != "ready":
                raise RuntimeError(f"a load process failed: {first}")
        t0 = time.monotonic() + 1.0
        for pipe in pipes:
            pipe.send(t0)
        servers = [psutil.Process(c.process.pid) for c in started]
        peak_rss = [0]
        stop = threading.Event()

        def sample_rss() -> None:
            while not stop.wait(0.25):
                try:
                    peak_rss[0] = max(peak_rss[0], *(s.memory_info().rss for s in servers))
                except psutil.Error:
                    return

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        time.sleep(max(0.0, t0 + warmup_s - time.monotonic()))
        box0, central0, pg0 = psutil.cpu_times(), _cpu_s(servers), _cpu_s(_tree(pg_pid))
        commit0 = _commit_seconds(metrics_ports)
        time.sleep(max(0.0, t0 + warmup_s + duration_s - time.monotonic()))
        box1, central1, pg1 = psutil.cpu_times(), _cpu_s(servers), _cpu_s(_tree(pg_pid))
        commit1 = _commit_seconds(metrics_ports)
        rss_end = max(s.memory_info().rss for s in servers)
        results = [pipe.recv() for pipe in pipes]
        stop.set()
        for worker in workers:
            worker.join(30)
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            raise RuntimeError("load process failed: " + "; ".join(errors))
        with FleetClient(started[0].target, timeout=60, token=ops) as client:
            stats = client.get_fleet_stats()
    finally:
        statuses = [c.close() for c in started]
    status = next((s for s in statuses if s), 0)
    acks = [s for r in results for s in r["ack_s"]]
    waits = [s for r in results for s in r["event_s"]]
    sizes = [n for r in results for n in r["batch_events"]]
    stored = sum(r["stored"] for r in results)
    busy = lambda c: c.user + c.nice + c.system + c.irq + c.softirq  # noqa: E731
    central_cpu = sum(central1.get(p, 0) - central0.get(p, 0) for p in central1)
    pg_cpu = sum(pg1[p] - pg0.get(p, 0.0) for p in pg1)
    client_cpu = sum(r["client_cpu_s"] for r in results)
    box_cpu = busy(box1) - busy(box0)
    achieved = sum(r["stored_in_window"] for r in results) / duration_s
    commits = commit1[1] - commit0[1]
    box = 100 / (duration_s * (psutil.cpu_count() or 1))  # CPU seconds -> % of all the box's cores
    return {
        "store": store,
        "centrals": centrals,
        "devices": devices,
        "streams": devices * streams,
        "offered_events_s": rate,
        "events_s": round(achieved, 1),
        "sustained": achieved >= 0.97 * rate
        and sum(r["backlog_at_end"] for r in results) <= rate,  # under a second of production waits on the devices
        "ack_p50_ms": round(percentile(acks, 50) * 1000, 1),
        "ack_p99_ms": round(percentile(acks, 99) * 1000, 1),
        "event_p99_ms": round(percentile(waits, 99) * 1000, 1),
        "requests_s": round(len(acks) / duration_s, 1),
        "mean_batch_events": round(statistics.fmean(sizes), 1) if sizes else 0.0,
        "commit_mean_ms": round((commit1[0] - commit0[0]) / commits * 1000, 2) if commits else 0.0,
        "central_cpu_pct": round(box * central_cpu, 1),
        "central_rss_mb": round(max(peak_rss[0], rss_end) / 2**20, 1),
        "postgres_cpu_pct": round(box * pg_cpu, 1) if pg_pid else None,
        "load_cpu_pct": round(box * client_cpu, 1),
        "other_cpu_pct": round(box * (box_cpu - central_cpu - pg_cpu - client_cpu), 1),
        "central_cpu_ms_per_request": round(1000 * central_cpu / len(acks), 3) if acks else None,
        "stored_total": stored,
        "store_events_total": stats.events,
        "anomalies": sum(r["anomalies"] for r in results),
        "central_exit_status": status,
    }


# ---- report -----------------------------------------------------------------------------------------------------

COLUMNS = [
    ("store", "store"),
    ("centrals", "centrals"),
    ("devices", "devices"),
    ("streams", "streams"),
    ("offered_events_s", "offered ev/s"),
    ("events_s", "acked ev/s"),
    ("sustained", "sustained"),
    ("ack_p50_ms", "ack p50 ms"),
    ("ack_p99_ms", "ack p99 ms"),
    ("event_p99_ms", "event p99 ms"),
    ("mean_batch_events", "events/request"),
    ("commit_mean_ms", "commit ms"),
    ("central_cpu_pct", "central CPU %"),
    ("central_rss_mb", "central RSS MiB"),
    ("postgres_cpu_pct", "PostgreSQL CPU %"),
    ("load_cpu_pct", "devices CPU %"),
    ("other_cpu_pct", "other CPU %"),
]


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(v: Any) -> str:
        return "-" if v is None else ("yes" if v is True else "no" if v is False else str(v))

    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r.get(k)) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fleet_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--stores", default="sqlite,postgresql", help="comma list of sqlite, postgresql")
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--streams", type=int, default=4, help="streams (cameras) per device")
    p.add_argument("--rates", default="5000", help="comma list of offered events/s (all devices together)")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before the measured window")
    p.add_argument("--window", type=int, default=4, help="requests a device has awaiting acknowledgement")
    p.add_argument(
        "--linger",
        type=float,
        default=0.2,
        help="seconds a device waits after an idle spell for events to join the first (the agent's linger)",
    )
    p.add_argument("--max-batch", type=int, default=500, help="events per request at most")
    p.add_argument("--procs", type=int, default=1, help="load processes the devices are spread over")
    p.add_argument("--centrals", default="1", help="comma list of central replica counts (2+: PostgreSQL only)")
    p.add_argument("--pg-fsync", choices=("on", "off"), default="on")
    p.add_argument("--postgres-url", help="a running PostgreSQL server (one fresh database per run is created)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "fleet")
    args = p.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if set(stores) - {"sqlite", "postgresql"} or not stores:
        p.error("--stores: sqlite and/or postgresql")
    rates = [float(r) for r in args.rates.split(",")]
    replicas = [int(n) for n in args.centrals.split(",")]
    if any(n < 1 for n in replicas):
        p.error("--centrals must be positive")
    if args.devices < 1 or args.streams < 1 or args.procs < 1 or any(r <= 0 for r in rates):
        p.error("--devices, --streams, --procs and --rates must be positive")
    args.out.mkdir(parents=True, exist_ok=True)
    pg: BenchPostgres | None = None
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        runs = [(s, n, r) for s in stores for n in replicas if n == 1 or s == "postgresql" for r in rates]
        for k, (store, centrals, rate) in enumerate(runs):
            pg_pid = None
            if store == "sqlite":
                url = f"sqlite:///{work / f'fleet-{k}.db'}"
            elif args.postgres_url:
                import psycopg

                name = f"fleet_bench_{os.getpid()}_{k}"
                base = args.postgres_url.replace("postgresql+psycopg://", "postgresql://")
                with psycopg.connect(base, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                url = base.rsplit("/", 1)[0] + "/" + name
            else:
                pg = pg or BenchPostgres(fsync=args.pg_fsync == "on")
                url, pg_pid = pg.create_database(f"fleet_bench_{k}"), pg.pid
            row = run_load(
                store,
                url,
                devices=args.devices,
                streams=args.streams,
                rate=rate,
                duration_s=args.duration,
                warmup_s=args.warmup,
                window=args.window,
                linger_s=args.linger,
                max_batch=args.max_batch,
                procs=args.procs,
                pg_pid=pg_pid,
                work=work,
                centrals=centrals,
            )
            if store == "postgresql":
                row["postgres"] = f"Debian PostgreSQL {pg.version}, fsync {args.pg_fsync}" if pg else "--postgres-url"
            rows.append(row)
            print(markdown([row]).splitlines()[-1], flush=True)
    finally:
        if pg is not None:
            pg.close()
        shutil.rmtree(work, ignore_errors=True)
    table = markdown(rows)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "postgres_url")}
    report = {
        "host": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "loadavg_after": os.getloadavg(),
        },
        "settings": settings,
        "command": "python -m bench.fleet_bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "rows": rows,
    }
    (args.out / "fleet_bench.json").write_text(json.dumps(report, indent=2))
    (args.out / "fleet_bench.md").write_text(table)
    print()
    print(table, end="")
    bad = [r for r in rows if r["anomalies"] or r["stored_total"] != r["store_events_total"]]
    for r in bad:
        print(
            f"{r['store']}: {r['anomalies']} answers were not 'all stored', or the store holds "
            f"{r['store_events_total']} events for {r['stored_total']} acknowledged",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
