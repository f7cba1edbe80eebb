"""Real processes for the agent and fault tests: a central (`python -m server --role central`) on a fixed loopback
port so it can be SIGKILLed and restarted where the agent looks for it, an agent (`python -m fleet agent`), replay
files, and the exactly-once check against the central's store."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from clients.ocr_client.fleet import FleetClient
from clients.ocr_client.fleet_types import EventFilter, Gap
from clients.ocr_client.results import OcrCallError
from fleet.agent.outbox import Outbox
from tests.conftest import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process whose output is kept (for the failure message) and that can be SIGKILLed."""

    def __init__(self, argv: list[str], ready: str, timeout: float = 120.0) -> None:
        self.argv, self.ready_pattern, self.timeout = argv, ready, timeout
        self.log: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self) -> Process:
        self.process = subprocess.Popen(
            self.argv, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + self.timeout
        for line in self.process.stdout:
            self.log.append(line)
            if re.search(self.ready_pattern, line):
                threading.Thread(target=self.log.extend, args=(self.process.stdout,), daemon=True).start()
                return self
            if time.monotonic() > deadline:
                break
        raise RuntimeError(f"{self.argv[2:4]} did not start:\n" + "".join(self.log[-40:]))

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def tail(self, lines: int = 40) -> str:
        return "".join(self.log[-lines:])


class Central(Process):
    def __init__(self, store_url: str, *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.target = f"127.0.0.1:{self.port}"
        super().__init__(
            [
                sys.executable,
                "-m",
                "server",
                "--role",
                "central",
                "--fleet-store",
                store_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *extra,
            ],
            r"ocr server listening on port",
        )

    def start(self) -> Central:
        super().start()
        with FleetClient(self.target) as client:
            for _ in range(300):
                try:
                    if client.health() == "SERVING":
                        return self
                except OcrCallError:
                    pass
                time.sleep(0.1)
        raise RuntimeError("the central never served:\n" + self.tail())


class AgentProcess(Process):
    def __init__(self, config: Path, *extra: str) -> None:
        super().__init__(
            [sys.executable, "-m", "fleet", "agent", "--config", str(config), *extra], r"fleet agent .* reporting to"
        )


def write_config(
    path: Path,
    device: str,
    target: str,
    outbox: Path,
    replays: Iterable[tuple[Path, float]],
    *,
    max_bytes: int = 0,
    policy: str = "DROP_OLDEST",
    ttl: str = "0",
    batch_events: int = 200,
    window: int = 4,
    ack_timeout: str = "3s",
    backoff_max: str = "1s",
    extra: str = "",
) -> Path:
    """An agent TOML file with replay producers (file, events/s)."""
    text = (
        f'device_id = "{device}"\n{extra}\n[central]\ntarget = "{target}"\n'
        f'[outbox]\npath = "{outbox}"\nmax_bytes = {max_bytes}\npolicy = "{policy}"\nttl = "{ttl}"\n'
        f'[upload]\nbatch_events = {batch_events}\nwindow = {window}\nack_timeout = "{ack_timeout}"\n'
        f'backoff_initial = "0.05s"\nbackoff_max = "{backoff_max}"\nstatus_every = "1s"\n'
    )
    for replay, rate in replays:
        text += f'[[replay]]\npath = "{replay}"\nrate = {rate}\n'
    path.write_text(text, encoding="utf-8")
    return path


def text_of(stream: str, line: int) -> str:
    return f"{stream.upper()}{line:06d}"


def write_replay(path: Path, streams: Iterable[str], per_stream: int, start: float = 1_700_000_000.0) -> Path:
    """``per_stream`` events per stream, interleaved; line n of a stream reads text_of(stream, n)."""
    streams = list(streams)
    with open(path, "w", encoding="utf-8") as out:
        for n in range(1, per_stream + 1):
            for s in streams:
                out.write(
                    json.dumps(
                        {
                            "stream_id": s,
                            "type": "STABLE",
                            "track_id": n,
                            "text": text_of(s, n),
                            "confidence": 0.9,
                            "capture_time": start + n,
                            "polygon": [[0, 0], [40, 0], [40, 10], [0, 10]],
                            "frame_width": 640,
                            "frame_height": 360,
                        }
                    )
                    + "\n"
                )
    return path


@dataclass
class Tally:
    committed: int
    dropped: dict[str, int]
    stored: int
    duplicates: int
    dropped_but_stored: int = 0  # sent, committed by the central, then dropped by the outbox before the ack came

    def line(self) -> str:
        return (
            f"committed {self.committed}, dropped {self.dropped or {}}, stored {self.stored} "
            f"(of which {self.dropped_but_stored} counted dropped), duplicates {self.duplicates}"
        )


def wait_until(condition, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stored_events(target: str, device: str) -> list:
    with FleetClient(target) as client:
        return list(client.all_events(EventFilter(device_id=device), page_size=1000))


def check_exactly_once(target: str, device: str, outbox_path: Path) -> Tally:
    """Every event the agent's outbox committed, minus the ranges its drop log names, is in the central's store
    exactly once, at its sequence, in per-stream commit order; nothing else is there. An event of a dropped range
    may be there too (once): the central committed it, then the outbox dropped it before the acknowledgement
    arrived (a drop counter is an upper bound of what was lost, never less)."""
    box = Outbox(outbox_path)
    try:
        last = box.last_sequences()
        dropped: list[Gap] = box.dropped()
        counters = {r: n for r, n in box.backlog().drops.items() if n}
    finally:
        box.close()
    lost = {(g.stream_id, s) for g in dropped for s in range(g.first, g.last + 1)}
    by_reason: dict[str, int] = {}
    for g in dropped:
        by_reason[g.reason] = by_reason.get(g.reason, 0) + g.last - g.first + 1
    assert {r: n for r, n in counters.items() if r != "REJECTED_NEW"} == by_reason, (counters, by_reason)
    stored = stored_events(target, device)
    keys = [(s.event.stream_id, s.event.sequence) for s in stored]
    duplicates = len(keys) - len(set(keys))
    assert duplicates == 0
    committed = {(stream, n) for stream, top in last.items() for n in range(1, top + 1)}
    expected = committed - lost
    missing, foreign = sorted(expected - set(keys)), sorted(set(keys) - committed)
    assert not missing and not foreign, (missing[:10], foreign[:10])
    for stream in last:  # commit order (the store's cursor) follows sequence order in every stream
        mine = sorted((s.cursor, s.event.sequence) for s in stored if s.event.stream_id == stream)
        assert [n for _, n in mine] == sorted(n for _, n in mine), f"stream {stream} stored out of order"
    return Tally(sum(last.values()), counters, len(keys), duplicates, len(set(keys) & lost))


def check_texts(target: str, device: str) -> None:
    """With resume, sequence n of a replayed stream carries the stream's line n (the right event, not just a
    count): holds when no event was refused under REJECT_NEW."""
    for s in stored_events(target, device):
        assert s.event.text == text_of(s.event.stream_id, s.event.sequence), s
