"""FleetService calls through the server's interceptor layer, against a real central (no models loaded): an
over-size message is refused with its reason and audited as refused, and watches count against --max-streams."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from clients.ocr_client.pb import fleet_pb2, fleet_pb2_grpc
from server.config import ServerConfig
from server.embedded import ServerThread

S = grpc.StatusCode
LIMIT = 64 * 1024  # the central's max_message_bytes in these tests


def _no_engine():
    raise AssertionError("a central must not load OCR models")


@pytest.fixture
def central(tmp_path: Path):
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        role="central",
        fleet_store=f"sqlite:///{tmp_path / 'fleet.db'}",
        audit_log=str(tmp_path / "audit.log"),
        max_message_bytes=LIMIT,
        max_streams=2,
    )
    server = ServerThread(_no_engine, config)
    server.audit_path = tmp_path / "audit.log"
    channel = grpc.insecure_channel(server.target)
    yield server, fleet_pb2_grpc.FleetServiceStub(channel)
    channel.close()
    server.stop()


def event(sequence: int, text: str = "KX71 001") -> fleet_pb2.TextEvent:
    return fleet_pb2.TextEvent(
        stream_id="gate",
        sequence=sequence,
        capture_time=Timestamp(seconds=int(time.time())),
        type=fleet_pb2.EVENT_TYPE_APPEARED,
        track_id=sequence,
        text=text,
        confidence=0.9,
    )


def reason_of(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("ocr-error-reason", "")


def audited(server, method: str) -> list[dict]:
    lines = [json.loads(line) for line in server.audit_path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["method"] == f"/fleet.v1.FleetService/{method}"]


def test_an_over_size_report_ends_the_call_with_its_reason_and_is_audited_as_refused(central) -> None:
    server, stub = central
    hello = fleet_pb2.ReportEventsRequest(device_id="cam-big", batch_id=1)
    big = fleet_pb2.ReportEventsRequest(device_id="cam-big", batch_id=2, events=[event(1, "X" * (LIMIT + 1000))])
    assert LIMIT < big.ByteSize() <= 2 * LIMIT
    answered = []
    with pytest.raises(grpc.RpcError) as refused:
        for answer in stub.ReportEvents(iter([hello, big]), timeout=30):
            answered.append(answer.batch_id)
    assert answered == [1]  # the request before it is answered; nothing of the over-size one is stored
    assert (refused.value.code(), reason_of(refused.value)) == (S.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE")
    (line,) = audited(server, "ReportEvents")
    assert (line["status"], line["reason"]) == ("RESOURCE_EXHAUSTED", "MESSAGE_TOO_LARGE")


def test_an_over_size_unary_call_gets_its_reason_and_an_audit_line(central) -> None:
    server, stub = central
    request = fleet_pb2.QueryEventsRequest(filter=fleet_pb2.EventFilter(text="X" * (LIMIT + 10)))
    with pytest.raises(grpc.RpcError) as refused:
        stub.QueryEvents(request, timeout=30)
    assert (refused.value.code(), reason_of(refused.value)) == (S.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE")
    request_id = dict(refused.value.trailing_metadata())["x-request-id"]
    (line,) = audited(server, "QueryEvents")
    assert (line["request_id"], line["status"], line["reason"]) == (
        request_id,
        "RESOURCE_EXHAUSTED",
        "MESSAGE_TOO_LARGE",
    )


def _watch_open(stub, cursor: str):
    """A watch that has answered once (so the server holds it open), or the RpcError that refused it."""
    call = stub.WatchEvents(fleet_pb2.WatchEventsRequest(cursor=cursor), timeout=60)
    try:
        next(call)
    except grpc.RpcError as error:
        return None, error
    return call, None


def test_watches_count_against_max_streams_and_reports_do_not(central) -> None:
    _, stub = central
    list(
        stub.ReportEvents(
            iter([fleet_pb2.ReportEventsRequest(device_id="cam-w", batch_id=1, events=[event(1), event(2)])]),
            timeout=30,
        )
    )
    first = stub.QueryEvents(fleet_pb2.QueryEventsRequest(page_size=1)).events[0].cursor  # each watch answers event 2
    watches = [_watch_open(stub, first)[0] for _ in range(2)]
    assert all(watches)
    refused = _watch_open(stub, first)[1]
    assert refused is not None
    assert (refused.code(), reason_of(refused)) == (S.RESOURCE_EXHAUSTED, "TOO_MANY_STREAMS")
    # an agent's report stream is no watch: it is served while the principal's watches are at the limit
    acks = list(stub.ReportEvents(iter([fleet_pb2.ReportEventsRequest(device_id="cam-w", batch_id=2)]), timeout=30))
    assert [a.batch_id for a in acks] == [2]
    watches.pop().cancel()  # a closed watch frees its slot (once the server has seen the cancellation)
    for _ in range(200):
        again, error = _watch_open(stub, first)
        if again is not None:
            again.cancel()
            break
        assert reason_of(error) == "TOO_MANY_STREAMS"
        time.sleep(0.05)
    else:
        pytest.fail("the slot of a cancelled watch was never freed")
    for watch in watches:
        watch.cancel()
