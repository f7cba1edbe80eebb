"""Two centrals (`python -m server --role central`) over one PostgreSQL serve one fleet: two agents, each given both
addresses in one target, report through them; the central that stores their events is SIGKILLed mid-stream and
the agents go on through the other. Every event is stored exactly once in per-stream order
(processes.check_exactly_once), and a watcher that follows the fleet on the killed central and resumes on the other
with its last cursor sees every event once, each stream in sequence order. Bounded: 600 events.

Which central an agent's report call lands on is round_robin's pick (it starts at a random address), so both may
land on one: the test kills a central that holds a call, not a fixed one (waiting for calls on both took from
seconds to never: a call stays where it landed until the replay ends).
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
    metrics = {one: ports[0], two: ports[1]}
    processes += [one.start(), two.start()]
    devices = {"dev-a": (one, two), "dev-b": (two, one)}  # opposite orders (round_robin starts at either)
    agents, outboxes = [], {}
    for device, (first, second) in devices.items():
        outboxes[device] = tmp_path / f"{device}.db"
        replay = write_replay(tmp_path / f"{device}.jsonl", STREAMS, PER_STREAM)
        target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
        config = write_config(tmp_path / f"{device}.toml", device, target, outboxes[device], [(replay, RATE)])
        agents.append(AgentProcess(config))
    total = len(devices) * len(STREAMS) * PER_STREAM
    for agent in agents:
        processes.append(agent.start())

    # a bound, not a speed claim: the full suite leaves the box busy
    wait_until(lambda: max(stored_by(p) for p in ports) > 0, 120, "a central to store events")
    victim, survivor = sorted((one, two), key=lambda c: -stored_by(metrics[c]))
    watcher = Watcher([victim.target, survivor.target], total)  # from cursor 0: every event, the first ones too
    watcher.start()
    wait_until(lambda: watcher.seen, 60, "the watcher's first events on the central to be killed")
    victim.kill()  # mid-stream: reports in flight on it, the agents still producing
    killed_with = stored_by(metrics[survivor])
    assert outbox_state(outboxes["dev-a"])[2] < len(STREAMS) * PER_STREAM  # dev-a's replay was not over yet
    try:
        for device, outbox in outboxes.items():
            wait_until(drained(outbox, len(STREAMS) * PER_STREAM), 90, f"{device}'s outbox to drain")
        watcher.join(60)
    except AssertionError:
        raise AssertionError("\n".join(a.tail() for a in agents) + "\ncentral:\n" + survivor.tail()) from None
    finally:
        watcher.stop.set()
    for agent in agents:
        assert agent.stop() == 0, agent.tail()

    for device, outbox in outboxes.items():
        tally = check_exactly_once(survivor.target, device, outbox)
        check_texts(survivor.target, device)
        assert tally.stored == len(STREAMS) * PER_STREAM and tally.dropped == {}, tally.line()
    assert stored_by(metrics[survivor]) > killed_with  # the survivor took over the killed one's agents

    keys = [(s.device_id, s.event.stream_id, s.event.sequence) for s in watcher.seen]
    assert len(keys) == total and len(set(keys)) == total, (len(keys), len(set(keys)))  # none missed, none twice
    assert watcher.moves[:2] == [victim.target, survivor.target]  # it did move from the killed central to the other
    for device in devices:
        for stream in STREAMS:
            mine = [n for d, s, n in keys if d == device and s == stream]
            assert mine == list(range(1, PER_STREAM + 1)), (device, stream)
