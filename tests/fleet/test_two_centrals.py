"""Two centrals (`python -m server --role central`) over one PostgreSQL serve one fleet: two agents, each given both
addresses in one target (in opposite order, so each starts on a different central), report through both; one
central is SIGKILLed mid-stream and the agents go on through the other. Every event is stored exactly once in
per-stream order (processes.check_exactly_once), and a watcher that follows the fleet on the killed central and
resumes on the other with its last cursor sees every event once, each stream in sequence order. Bounded: 600 events.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from clients.ocr_client.fleet import FleetClient
from clients.ocr_client.fleet_types import EventFilter
from clients.ocr_client.results import OcrCallError
from tests.fleet.processes import (
    AgentProcess,
    Central,
    check_exactly_once,
    check_texts,
    free_port,
    wait_until,
    write_config,
    write_replay,
)
from tests.fleet.test_faults import drained, outbox_state
from tests.services import Postgres

STREAMS = ["gate-1", "gate-2", "gate-3"]
PER_STREAM = 100  # per agent: 300 events, 600 in all
RATE = 60.0  # events/s per agent: the replay lasts 5 s, the kill lands in it


def stored_by(metrics_port: int) -> float:
    """The events a central stored, from its own Prometheus counter (-1 once it is gone)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:
        return -1
    found = re.search(r'^ocr_fleet_events_total\{result="stored"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


class Watcher(threading.Thread):
    """Watches every event from the start on one central; when that call fails, resumes after the last cursor it
    got on the next central of ``targets`` (the one still up)."""

    def __init__(self, targets: list[str], expected: int) -> None:
        super().__init__(daemon=True)
        self.targets, self.expected = targets, expected
        self.seen: list = []
        self.moves: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        cursor, turn = "0", 0
        while not self.stop.is_set() and len(self.seen) < self.expected:
            target = self.targets[turn % len(self.targets)]
            self.moves.append(target)
            try:
                with FleetClient(target) as client:
                    for stored in client.watch_events(EventFilter(), cursor=cursor):
                        self.seen.append(stored)
                        cursor = str(stored.cursor)
                        if len(self.seen) >= self.expected or self.stop.is_set():
                            return
            except OcrCallError:
                turn += 1
                time.sleep(0.2)


@pytest.fixture
def processes():
    started: list = []
    yield started
    for process in reversed(started):
        process.stop()


def test_two_centrals_share_the_fleet_and_one_sigkilled_costs_nothing(
    postgres: Postgres, tmp_path: Path, processes
) -> None:
    url = postgres.create_database(f"two_centrals_{int(time.time() * 1000) % 10_000_000}")
    ports = [free_port(), free_port()]
    one, two = (Central(url, "--metrics-port", str(p)) for p in ports)
    processes += [one.start(), two.start()]
    devices = {"dev-a": (one, two), "dev-b": (two, one)}  # each agent starts on a different central
    agents, outboxes = [], {}
    for device, (first, second) in devices.items():
        outboxes[device] = tmp_path / f"{device}.db"
        replay = write_replay(tmp_path / f"{device}.jsonl", STREAMS, PER_STREAM)
        target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
        config = write_config(tmp_path / f"{device}.toml", device, target, outboxes[device], [(replay, RATE)])
        agents.append(AgentProcess(config))
    total = len(devices) * len(STREAMS) * PER_STREAM
    watcher = Watcher([one.target, two.target], total)
    watcher.start()
    for agent in agents:
        processes.append(agent.start())

    # a bound, not a speed claim: agents load their engine first, and the full suite leaves the box busy
    wait_until(lambda: min(stored_by(p) for p in ports) > 0, 180, "both centrals to store events")
    one.kill()  # mid-stream: reports in flight on it, the agents still producing
    killed_with = stored_by(ports[1])
    assert outbox_state(outboxes["dev-a"])[2] < len(STREAMS) * PER_STREAM  # dev-a's replay was not over yet
    try:
        for device, outbox in outboxes.items():
            wait_until(drained(outbox, len(STREAMS) * PER_STREAM), 90, f"{device}'s outbox to drain")
        watcher.join(60)
    except AssertionError:
        raise AssertionError("\n".join(a.tail() for a in agents) + "\ncentral:\n" + two.tail()) from None
    finally:
        watcher.stop.set()
    for agent in agents:
        assert agent.stop() == 0, agent.tail()

    for device, outbox in outboxes.items():
        tally = check_exactly_once(two.target, device, outbox)
        check_texts(two.target, device)
        assert tally.stored == len(STREAMS) * PER_STREAM and tally.dropped == {}, tally.line()
    assert stored_by(ports[1]) > killed_with  # the survivor took over the killed one's agent

    keys = [(s.device_id, s.event.stream_id, s.event.sequence) for s in watcher.seen]
    assert len(keys) == total and len(set(keys)) == total, (len(keys), len(set(keys)))  # none missed, none twice
    assert watcher.moves[:2] == [one.target, two.target]  # it did move from the killed central to the other
    for device in devices:
        for stream in STREAMS:
            mine = [n for d, s, n in keys if d == device and s == stream]
            assert mine == list(range(1, PER_STREAM + 1)), (device, stream)
