"""Faults with real processes on loopback: the agent (`python -m fleet agent`, replaying events at a steady rate)
reports to a central (`python -m server --role central`) while the central is SIGKILLed and restarted, the agent
is SIGKILLed and restarted, a proxy drops and black-holes their connections, PostgreSQL restarts, and an outage
fills the outbox under each policy. Each test ends with the same check (processes.check_exactly_once): every
event the agent committed, minus the ranges its drop log names by reason, is in the central's store exactly once,
at its sequence, in per-stream order. Each test is bounded: a few seconds of events, waits with deadlines.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from fleet.agent.outbox import Outbox
from tests.fleet.processes import (
    AgentProcess,
    Central,
    check_exactly_once,
    check_texts,
    stored_events,
    wait_until,
    write_config,
    write_replay,
)
from tests.fleet.proxy import FaultProxy
from tests.services import Postgres

STREAMS = ["gate-1", "gate-2", "gate-3"]
DRAIN_S = 90  # the longest a test waits for the outbox to empty after its fault ended


def outbox_state(path: Path) -> tuple[int, int, int]:
    """(events waiting, gaps waiting, sequences assigned) of an agent's outbox, read from another process."""
    box = Outbox(path)
    try:
        backlog, last = box.backlog(), box.last_sequences()
    finally:
        box.close()
    return backlog.events, backlog.gaps, sum(last.values())


def drained(path: Path, committed: int | None = None):
    def check() -> bool:
        events, gaps, total = outbox_state(path)
        return events == 0 and gaps == 0 and (committed is None or total == committed)

    return check


def failures_seen(run: Run) -> str:
    """The agent's log lines about report calls that failed (the fault reached it)."""
    return "".join(line for line in run.agent.log if "report call failed" in line)


def stored_count(target: str, device: str) -> int:
    try:
        return len(stored_events(target, device))
    except Exception:
        return -1


class Run:
    """A central and an agent replaying ``per_stream`` events per stream at ``rate`` events/s."""

    def __init__(
        self,
        tmp: Path,
        store_url: str,
        device: str,
        per_stream: int,
        rate: float,
        *,
        via_proxy: bool = False,
        **agent_settings,
    ) -> None:
        self.tmp, self.device, self.total = tmp, device, per_stream * len(STREAMS)
        self.central = Central(store_url).start()
        self.proxy = FaultProxy(("127.0.0.1", self.central.port)) if via_proxy else None
        target = f"127.0.0.1:{self.proxy.port}" if self.proxy else self.central.target
        self.outbox = tmp / "outbox.db"
        replay = write_replay(tmp / "events.jsonl", STREAMS, per_stream)
        self.config = write_config(tmp / "agent.toml", device, target, self.outbox, [(replay, rate)], **agent_settings)
        self.agent = AgentProcess(self.config).start()

    def wait_stored(self, at_least: int, timeout: float = 60) -> None:
        wait_until(
            lambda: stored_count(self.central.target, self.device) >= at_least, timeout, f"{at_least} events stored"
        )

    def finish(self, committed: int | None = None) -> str:
        """Wait for the outbox to drain, stop the agent, check exactly once; the tally as one line."""
        try:
            wait_until(drained(self.outbox, committed), DRAIN_S, "the outbox to drain")
        except AssertionError:
            raise AssertionError("agent:\n" + self.agent.tail() + "\ncentral:\n" + self.central.tail()) from None
        assert self.agent.stop() == 0, self.agent.tail()
        tally = check_exactly_once(self.central.target, self.device, self.outbox)
        print(f"\n{self.device}: {tally.line()}")
        return tally

    def close(self) -> None:
        self.agent.stop()
        if self.proxy is not None:
            self.proxy.close()
        self.central.stop()


@pytest.fixture
def runs():
    made: list[Run] = []
    yield made
    for run in made:
        run.close()


def test_central_sigkilled_mid_stream_and_restarted(store_url: str, tmp_path: Path, runs) -> None:
    run = Run(tmp_path, store_url, "fault-central", 300, 300.0)  # 900 events over 3 s
    runs.append(run)
    run.wait_stored(150)
    run.central.kill()  # mid-stream: batches in flight, events still being produced
    stored_before = stored_count(run.central.target, run.device)
    time.sleep(1.0)
    run.central.start()
    tally = run.finish(run.total)
    check_texts(run.central.target, run.device)
    assert stored_before == -1 and "UNAVAILABLE" in failures_seen(run)
    assert tally.stored == run.total and tally.dropped == {}


def test_agent_sigkilled_mid_upload_and_restarted(store_url: str, tmp_path: Path, runs) -> None:
    run = Run(tmp_path, store_url, "fault-agent", 400, 300.0, batch_events=50)  # 1200 events over 4 s
    runs.append(run)
    for at_least in (150, 600):  # twice, mid-upload: unacknowledged batches in flight, the replay half done
        run.wait_stored(at_least)
        run.agent.kill()
        waiting, _, committed = outbox_state(run.outbox)
        assert waiting > 0 and committed < run.total  # killed with events unacknowledged, the replay unfinished
        run.agent.start()  # resumes from the outbox (and the replay from its last commit)
    tally = run.finish(run.total)
    check_texts(run.central.target, run.device)  # sequence n is still line n: nothing produced twice
    assert tally.stored == run.total and tally.dropped == {}


def test_proxy_drops_and_black_holes_the_connection(tmp_path: Path, runs) -> None:
    run = Run(
        tmp_path, f"sqlite:///{tmp_path / 'fleet.db'}", "fault-proxy", 400, 200.0, via_proxy=True, ack_timeout="1s"
    )  # 1200 events over 6 s
    runs.append(run)
    run.wait_stored(100)
    run.proxy.set_mode("drop")  # every connection closed, new ones refused
    time.sleep(1.5)
    run.proxy.set_mode("pass")
    run.wait_stored(500)
    run.proxy.set_mode("blackhole")  # connections accepted, nothing forwarded: only the ack timeout tells
    time.sleep(2.5)
    run.proxy.set_mode("pass")
    tally = run.finish(run.total)
    assert "ACK_TIMEOUT" in failures_seen(run) and "UNAVAILABLE" in failures_seen(run)
    assert tally.stored == run.total and tally.dropped == {}


def test_postgresql_restarted_mid_stream(postgres: Postgres, tmp_path: Path, runs) -> None:
    url = postgres.create_database(f"faults_pg_{int(time.time() * 1000) % 10_000_000}")
    run = Run(tmp_path, url, "fault-postgres", 300, 300.0)
    runs.append(run)
    run.wait_stored(150)
    postgres.restart()  # the central's connections die under it: STORE_UNAVAILABLE, then it recovers
    tally = run.finish(run.total)
    check_texts(run.central.target, run.device)
    assert "STORE_UNAVAILABLE" in failures_seen(run)
    assert tally.stored == run.total and tally.dropped == {}


@pytest.mark.parametrize("policy", ["DROP_OLDEST", "REJECT_NEW"])
def test_an_outage_fills_the_outbox(policy: str, tmp_path: Path, runs) -> None:
    """The central is down while 900 events are produced into an outbox that holds about 200: the policy decides
    which are lost, the counters say how many, and the rest arrive exactly once when the central is back."""
    run = Run(
        tmp_path,
        f"sqlite:///{tmp_path / 'fleet.db'}",
        f"fault-full-{policy.lower()}",
        300,
        600.0,
        max_bytes=200 * 300,
        policy=policy,
    )
    runs.append(run)
    run.wait_stored(60)
    run.central.kill()
    wait_until(lambda: outbox_state(run.outbox)[2] >= run.total or _replay_done(run), 30, "the replay to end")
    time.sleep(0.5)
    run.central.start()
    tally = run.finish()
    box = Outbox(run.outbox)
    drops = box.backlog().drops
    box.close()
    if policy == "DROP_OLDEST":
        assert tally.committed == run.total and drops["OUTBOX_FULL"] > 0 and drops["REJECTED_NEW"] == 0
        assert tally.stored == run.total - drops["OUTBOX_FULL"] + tally.dropped_but_stored
        check_texts(run.central.target, run.device)
    else:
        assert drops["REJECTED_NEW"] > 0 and drops["OUTBOX_FULL"] == 0
        assert tally.committed + drops["REJECTED_NEW"] == run.total and tally.stored == tally.committed
    from clients.ocr_client.fleet import FleetClient

    with FleetClient(run.central.target) as client:  # the central knows what was lost, by reason
        (seen,) = [d for d in client.list_devices(page_size=1000).items if d.device_id == run.device]
    assert {r: n for r, n in seen.status.drops.items() if n} == {r: n for r, n in drops.items() if n}


def _replay_done(run: Run) -> bool:
    return any("replay" in line and "done" in line for line in run.agent.log)


def test_random_kills_and_partitions(store_url: str, tmp_path: Path, runs) -> None:
    """The issue's own script, bounded: both processes SIGKILLed at random moments and a proxy partitioning them,
    while 3,000 events are produced; a random seed each run (printed; OCR_FAULT_SEED replays one's choices)."""
    seed = int(os.environ.get("OCR_FAULT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    run = Run(tmp_path, store_url, "fault-chaos", 1000, 500.0, via_proxy=True, batch_events=100, ack_timeout="1s")
    runs.append(run)
    faults = []
    for _ in range(6):
        time.sleep(rng.uniform(0.2, 1.2))
        fault = rng.choice(["agent", "central", "drop", "blackhole"])
        faults.append(fault)
        if fault == "agent":
            run.agent.kill()
            run.agent.start()
        elif fault == "central":
            run.central.kill()
            time.sleep(rng.uniform(0.1, 1.0))
            run.central.start()
        else:
            run.proxy.set_mode(fault)
            time.sleep(rng.uniform(0.3, 1.5))
            run.proxy.set_mode("pass")
    try:
        tally = run.finish(run.total)
        check_texts(run.central.target, run.device)
    except AssertionError as failure:
        raise AssertionError(f"seed {seed}, faults {faults}: {failure}") from None
    print(f"seed {seed}, faults {faults}")
    assert tally.stored == run.total and tally.dropped == {}
