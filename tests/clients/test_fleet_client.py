"""FleetClient against a real central on loopback: reporting sessions (windowed, refused, silent), questions in
domain types, errors with reasons; the client library still imports without server/."""

from __future__ import annotations

import time

import grpc
import pytest

from clients.ocr_client import FleetClient, OcrCallError
from clients.ocr_client.fleet_types import Event, EventFilter
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.fleet.proxy import FaultProxy

NOW = time.time()


def _no_engine():
    raise AssertionError("a central loads no models")


@pytest.fixture(scope="module")
def central(tmp_path_factory):
    root = tmp_path_factory.mktemp("central")
    server = ServerThread(
        _no_engine, ServerConfig(host="127.0.0.1", port=0, role="central", fleet_store=f"sqlite:///{root / 'fleet.db'}")
    )
    yield server
    server.stop()


def event(stream: str, sequence: int, text: str = "KX71 ABC") -> Event:
    return Event(stream, sequence, NOW + sequence, "APPEARED", sequence, text, 0.9)


def test_windowed_reports_are_acknowledged_in_order(central) -> None:
    with FleetClient(central.target) as client, client.report_session("cam-w") as session:
        session.send(1)
        for batch in range(2, 6):  # four batches in flight before the first answer is read
            session.send(batch, [event("gate", batch - 1)])
        answers = [session.receive() for _ in range(5)]
        assert [b for b, _ in answers] == [1, 2, 3, 4, 5]
        assert answers[0][1].acks == {} and answers[-1][1].acks == {"gate": 4}
        found = list(client.all_events(EventFilter(device_id="cam-w"), page_size=2))
        assert [e.event.sequence for e in found] == [1, 2, 3, 4]


def test_a_refused_batch_ends_the_session_with_its_reason(central) -> None:
    with FleetClient(central.target) as client:
        session = client.report_session("cam-r")
        with pytest.raises(OcrCallError) as caught:
            session.report(1, [Event("gate", 1, NOW, "NOT_A_TYPE", 1, "x", 0.5)])
        assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "EVENT_INVALID")
        assert session.closed
        with pytest.raises(OcrCallError):
            session.send(2)


def test_a_silent_connection_ends_the_session_after_its_timeout(central) -> None:
    proxy = FaultProxy(("127.0.0.1", central.port))
    try:
        with FleetClient(f"127.0.0.1:{proxy.port}") as client:
            session = client.report_session("cam-s")
            assert session.report(1).acks == {}
            proxy.set_mode("blackhole")
            with pytest.raises(OcrCallError) as caught:
                session.report(2, [event("gate", 1)], timeout=1.0)
            assert caught.value.reason == "ACK_TIMEOUT"
    finally:
        proxy.close()


def test_questions_answer_in_domain_types(central) -> None:
    with FleetClient(central.target) as client:
        with client.report_session("cam-q") as session:
            session.report(1, [event("a", 1), event("b", 1, "kx71-abc")])
        assert client.health() == "SERVING"
        stats = client.get_fleet_stats()
        assert stats.store == "sqlite" and stats.events >= 2
        assert "cam-q" in [d.device_id for d in client.list_devices().items]
        sightings = client.list_sightings(EventFilter(device_id="cam-q"), window_s=60, min_streams=2).items
        assert len(sightings) == 1 and len(sightings[0].places) == 2
        with pytest.raises(OcrCallError) as caught:
            client.query_events(page_size=-1)
        assert caught.value.reason == "PAGE_SIZE_INVALID"
        watch = client.watch_events(EventFilter(device_id="cam-q"), cursor="0")
        seen = []
        for stored in watch:
            seen.append(stored.event.stream_id)
            if len(seen) == 2:
                watch.cancel()
                break
        assert sorted(seen) == ["a", "b"]
        deleted = client.delete_device_data("cam-q")
        assert deleted.device_existed and deleted.deleted_events == 2
