"""The uploader's rules against a real central process: the hello's marks spare a resend, a batch too large for the
central is halved until it fits, events that outlive the TTL during an outage reach the central as EXPIRED gaps
and counts; reconnect delays are full jitter."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from clients.ocr_client.fleet import FleetClient
from clients.ocr_client.fleet_types import Event
from fleet.agent import uploader
from fleet.agent.agent import Agent
from fleet.agent.config import config_of
from fleet.agent.outbox import Outbox
from fleet.agent.uploader import full_jitter
from tests.fleet.processes import Central, check_exactly_once, wait_until
from tests.fleet.proxy import FaultProxy


def ev(n: int) -> Event:
    return Event("", 0, 1_700_000_000.0 + n, "STABLE", n, f"KX{n:04d}", 0.9, ((0, 0), (9, 0), (9, 3), (0, 3)), 640, 360)


def agent_for(tmp: Path, device: str, target: str, upload: dict | None = None, **outbox) -> Agent:
    (tmp / "none.jsonl").write_text("")
    return Agent(
        config_of(
            {
                "device_id": device,
                "central": {"target": target},
                "outbox": {"path": str(tmp / "outbox.db"), **outbox},
                "upload": {
                    "batch_events": 200,
                    "backoff_initial": "0.05s",
                    "backoff_max": "0.3s",
                    "ack_timeout": "3s",
                    **(upload or {}),
                },
                "replay": [{"path": str(tmp / "none.jsonl")}],
            }
        )
    )


def drained(agent: Agent) -> bool:
    backlog = agent.outbox.backlog()
    return backlog.events == 0 and backlog.gaps == 0


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Central:
    server = Central(f"sqlite:///{tmp_path_factory.mktemp('central') / 'fleet.db'}").start()
    yield server
    server.stop()


def test_full_jitter_stays_under_the_growing_bound_and_spreads() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        bound = min(30.0, 0.5 * 2**attempt)
        draws = [full_jitter(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in draws)
        assert max(draws) > 0.8 * bound and min(draws) < 0.2 * bound  # spread over the whole range


def test_the_hellos_marks_spare_what_the_central_already_has(central: Central, tmp_path: Path) -> None:
    """The agent crashed after the central committed 40 events but before the outbox heard: nothing is resent."""
    box = Outbox(tmp_path / "outbox.db")
    committed = box.append("gate", [ev(n) for n in range(1, 61)])
    box.close()
    with FleetClient(central.target) as client, client.report_session("hello-dev") as session:
        assert session.report(1, committed[:40]).acks == {"gate": 40}
    agent = agent_for(tmp_path, "hello-dev", central.target)
    agent.start()
    try:
        wait_until(lambda: drained(agent), 30, "the outbox to drain")
        assert agent.uploader.stats.events_sent == 20 and agent.uploader.stats.duplicates == 0
    finally:
        agent.stop()
    assert check_exactly_once(central.target, "hello-dev", tmp_path / "outbox.db").stored == 60


def test_a_batch_too_large_for_the_central_is_halved_until_it_fits(tmp_path: Path) -> None:
    small = Central(f"sqlite:///{tmp_path / 'fleet.db'}", "--fleet-max-report-events", "30").start()
    target = small.target
    box = Outbox(tmp_path / "outbox.db")
    box.append("gate", [ev(n) for n in range(1, 151)])
    box.close()
    agent = agent_for(tmp_path, "large-dev", target)
    agent.start()
    try:
        wait_until(lambda: drained(agent), 30, "the outbox to drain in smaller batches")
        assert agent.uploader.batch_events == 25  # 200 -> 100 -> 50 -> 25
        assert agent.uploader.stats.failure_reasons == {"REPORT_TOO_LARGE": 3}
    finally:
        agent.stop()
        try:
            assert check_exactly_once(target, "large-dev", tmp_path / "outbox.db").stored == 150
        finally:
            small.stop()


def test_events_outliving_the_ttl_in_an_outage_reach_the_central_as_expired(central: Central, tmp_path: Path) -> None:
    proxy = FaultProxy(("127.0.0.1", central.port))
    proxy.set_mode("drop")  # the central is unreachable from the start
    agent = agent_for(tmp_path, "ttl-dev", f"127.0.0.1:{proxy.port}", ttl="1s")
    agent.start()
    try:
        agent.outbox.append("gate", [ev(n) for n in range(1, 51)])
        wait_until(lambda: agent.uploader.stats.failures >= 2, 10, "the uploader to fail to connect")
        time.sleep(1.2)
        agent.outbox.append("gate", [ev(n) for n in range(51, 61)])  # an append also expires what is too old
        assert agent.outbox.backlog().drops["EXPIRED"] == 50
        proxy.set_mode("pass")
        wait_until(lambda: drained(agent), 30, "the outbox to drain")
    finally:
        agent.stop()
        proxy.close()
    tally = check_exactly_once(central.target, "ttl-dev", tmp_path / "outbox.db")
    assert (tally.committed, tally.stored, tally.dropped) == (60, 10, {"EXPIRED": 50})
    with FleetClient(central.target) as client:
        (seen,) = [d for d in client.list_devices(page_size=1000).items if d.device_id == "ttl-dev"]
    assert seen.status.drops["EXPIRED"] == 50 and seen.streams[0].acked_sequence == 60


class Counting:
    """A real ReportSession, counting how many requests await their answer at once."""

    def __init__(self, session, seen: list[int]) -> None:
        self.session, self.seen, self.waiting = session, seen, 0

    def send(self, batch_id, events=(), gaps=(), status=None) -> None:
        self.session.send(batch_id, events, gaps, status)
        self.waiting += 1
        self.seen.append(self.waiting)

    def receive(self, timeout=30.0):
        answer = self.session.receive(timeout)
        self.waiting -= 1
        return answer

    def close(self) -> None:
        self.session.close()


@pytest.mark.parametrize("window", [1, 3])
def test_the_window_bounds_the_batches_in_flight(central: Central, tmp_path: Path, window: int) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for stream in ("a", "b"):
        box.append(stream, [ev(n) for n in range(1, 301)])
    box.close()
    (tmp_path / "none.jsonl").write_text("")
    seen: list[int] = []
    holder: list[Agent] = []
    agent = Agent(
        config_of(
            {
                "device_id": f"window-{window}",
                "central": {"target": central.target},
                "outbox": {"path": str(tmp_path / "outbox.db")},
                "upload": {"batch_events": 20, "window": window},
                "replay": [{"path": str(tmp_path / "none.jsonl")}],
            }
        ),
        session_factory=lambda: Counting(holder[0]._session(), seen),
    )
    holder.append(agent)
    agent.start()
    try:
        wait_until(lambda: drained(agent), 60, "the outbox to drain")
    finally:
        agent.stop()
    assert max(seen) == window  # the window is filled, never passed
    assert agent.uploader.stats.batches >= 600 // 20 and agent.uploader.stats.duplicates == 0
    assert check_exactly_once(central.target, f"window-{window}", tmp_path / "outbox.db").stored == 600


def test_a_clean_stop_reports_the_backlog_its_last_acknowledgements_left(
    central: Central, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping right after the last acknowledgement: the central's view of the device shows backlog 0, not the
    backlog the last batch carried when it was sent (the quiet-time and periodic statuses are pushed out of reach
    here, so only the final status on stop can tell the central)."""
    monkeypatch.setattr(uploader, "QUIET_S", 3600.0)
    box = Outbox(tmp_path / "outbox.db")
    box.append("gate", [ev(n) for n in range(1, 41)])
    box.close()
    agent = agent_for(tmp_path, "final-dev", central.target, upload={"status_every": "1h"})
    agent.start()
    try:
        wait_until(lambda: drained(agent), 30, "the outbox to drain")
        with FleetClient(central.target) as client:
            (before,) = [d for d in client.list_devices(page_size=1000).items if d.device_id == "final-dev"]
        assert before.status.backlog_events == 40  # what the one batch carried: counted before it was acknowledged
    finally:
        agent.stop()
    with FleetClient(central.target) as client:
        (seen,) = [d for d in client.list_devices(page_size=1000).items if d.device_id == "final-dev"]
    assert seen.status.backlog_events == 0 and seen.status.backlog_bytes == 0
    assert seen.streams[0].acked_sequence == 40
