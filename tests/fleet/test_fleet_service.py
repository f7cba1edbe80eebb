"""FleetService through real gRPC: a central server (``--role central``, no models loaded) on loopback, on SQLite
and on PostgreSQL; codes and stable reasons; the reporting device taken from the caller's token."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.ocr_client import fleet_convert as convert
from clients.ocr_client.fleet_types import Event, EventFilter, Gap
from clients.ocr_client.pb import (
    FLEET_SERVICE_NAME,
    SERVICE_NAME,
    fleet_pb2,
    fleet_pb2_grpc,
    ocr_pb2,
    ocr_pb2_grpc,
)
from server.config import ServerConfig
from server.embedded import ServerThread

S = grpc.StatusCode
NOW = time.time()


def _no_engine():
    raise AssertionError("a central must not load OCR models")


def central(store_url: str, **settings) -> ServerThread:
    config = ServerConfig(host="127.0.0.1", port=0, role="central", fleet_store=store_url, **settings)
    return ServerThread(_no_engine, config)


def event(stream: str, sequence: int, text: str = "", at: float = NOW, confidence: float = 0.9) -> Event:
    return Event(
        stream_id=stream,
        sequence=sequence,
        capture_time=at,
        type="APPEARED",
        track_id=sequence,
        text=text or f"KX71 {sequence:03d}",
        confidence=confidence,
    )


def report(stub, requests, metadata=()) -> list:
    return [convert.ingest_result_of(r) for r in stub.ReportEvents(iter(requests), metadata=metadata, timeout=30)]


def reason_of(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("ocr-error-reason", "")


@pytest.fixture
def served(store_url: str):
    server = central(store_url)
    channel = grpc.insecure_channel(server.target)
    yield server, fleet_pb2_grpc.FleetServiceStub(channel), channel
    channel.close()
    server.stop()


def test_report_acks_after_commit_and_replays_change_nothing(served) -> None:
    _, stub, _ = served
    hello, first = report(
        stub,
        [
            convert.report_request("cam-01", 1),
            convert.report_request("cam-01", 2, [event("gate", i) for i in (1, 2, 3)]),
        ],
    )
    assert hello == (1, hello[1]) and hello[1].acks == {}
    assert first[0] == 2 and first[1].acks == {"gate": 3} and first[1].stored == 3
    # a resend after a lost acknowledgement, an event beyond a hole, and a declared gap
    ((_, again),) = report(
        stub, [convert.report_request("cam-01", 3, [event("gate", 2), event("gate", 3), event("gate", 6)])]
    )
    assert (again.stored, again.duplicates, again.out_of_order) == (0, 2, 1) and again.acks == {"gate": 3}
    ((_, gap),) = report(
        stub, [convert.report_request("cam-01", 4, [event("gate", 6)], [Gap("gate", 4, 5, "OUTBOX_FULL")])]
    )
    assert gap.acks == {"gate": 6} and gap.stored == 1
    ((_, marks),) = report(stub, [convert.report_request("cam-01", 5)])  # a new call's hello: every stream's mark
    assert marks.acks == {"gate": 6}
    found = stub.QueryEvents(fleet_pb2.QueryEventsRequest(filter=fleet_pb2.EventFilter(device_id="cam-01")))
    assert [e.event.sequence for e in found.events] == [1, 2, 3, 6]


def test_a_bad_request_ends_the_call_with_its_reason_and_stores_nothing_of_it(served) -> None:
    _, stub, _ = served
    bad = event("gate", 2, confidence=1.5)
    with pytest.raises(grpc.RpcError) as caught:
        report(
            stub, [convert.report_request("cam-02", 1, [event("gate", 1)]), convert.report_request("cam-02", 2, [bad])]
        )
    assert caught.value.code() == S.INVALID_ARGUMENT and reason_of(caught.value) == "EVENT_INVALID"
    with pytest.raises(grpc.RpcError) as caught:
        report(stub, [convert.report_request("", 1, [event("gate", 1)])])
    assert reason_of(caught.value) == "DEVICE_ID_MISSING"
    with pytest.raises(grpc.RpcError) as caught:
        report(stub, [convert.report_request("cam-02", 1), convert.report_request("cam-03", 2)])
    assert reason_of(caught.value) == "DEVICE_ID_INVALID"  # one device per call
    ((_, marks),) = report(stub, [convert.report_request("cam-02", 9)])
    assert marks.acks == {"gate": 1}  # the first request was committed; the bad one was not


def test_requests_in_flight_are_answered_in_order_and_a_bad_one_ends_the_call_after_those_before(served) -> None:
    _, stub, _ = served
    # 20 requests sent without waiting (the server reads ahead and commits them in the device's order)
    answers = report(
        stub,
        [convert.report_request("cam-05", b, [event("gate", 2 * b - 1), event("gate", 2 * b)]) for b in range(1, 21)],
    )
    assert [b for b, _ in answers] == list(range(1, 21))
    assert [r.acks["gate"] for _, r in answers] == list(range(2, 41, 2))
    assert all(r.stored == 2 and not r.out_of_order for _, r in answers)
    seen: list[int] = []
    requests = [convert.report_request("cam-06", b, [event("gate", b)]) for b in (1, 2, 3)]
    requests += [
        convert.report_request("cam-06", 4, [event("gate", 4, confidence=-1.0)]),
        convert.report_request("cam-06", 5, [event("side", 1)]),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        for r in stub.ReportEvents(iter(requests), timeout=30):
            seen.append(r.batch_id)
    assert seen == [1, 2, 3] and reason_of(caught.value) == "EVENT_INVALID"
    ((_, marks),) = report(stub, [convert.report_request("cam-06", 9)])
    assert marks.acks == {"gate": 3}  # nothing of the bad request, nothing read after it


def test_malformed_bytes_and_bad_questions_get_stable_reasons(served) -> None:
    _, stub, channel = served
    raw = channel.unary_unary(
        f"/{FLEET_SERVICE_NAME}/QueryEvents", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    with pytest.raises(grpc.RpcError) as caught:
        raw(b"\xff\xff\xff", timeout=10)
    assert caught.value.code() == S.INVALID_ARGUMENT and reason_of(caught.value) == "REQUEST_MALFORMED"
    cases = [
        (stub.QueryEvents, fleet_pb2.QueryEventsRequest(page_size=-1), "PAGE_SIZE_INVALID"),
        (stub.QueryEvents, fleet_pb2.QueryEventsRequest(page_token="not-a-token"), "PAGE_TOKEN_INVALID"),
        (
            stub.QueryEvents,
            fleet_pb2.QueryEventsRequest(filter=fleet_pb2.EventFilter(min_confidence=2)),
            "FILTER_INVALID",
        ),
        (stub.ListSightings, fleet_pb2.ListSightingsRequest(min_streams=-1), "FILTER_INVALID"),
        (stub.DeleteDeviceData, fleet_pb2.DeleteDeviceDataRequest(), "DEVICE_ID_MISSING"),
    ]
    for method, request, reason in cases:
        with pytest.raises(grpc.RpcError) as caught:
            method(request, timeout=10)
        assert (caught.value.code(), reason_of(caught.value)) == (S.INVALID_ARGUMENT, reason), request
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.WatchEvents(fleet_pb2.WatchEventsRequest(cursor="x1"), timeout=10))
    assert reason_of(caught.value) == "CURSOR_INVALID"


def test_paging_devices_stats_sightings_and_erasure(served) -> None:
    _, stub, _ = served
    # one plate seen by three streams of two devices within a minute, plus other plates
    report(
        stub,
        [
            convert.report_request(
                "cam-a",
                1,
                [event("gate-1", 1, "KX71-ABC", NOW), event("gate-1", 2, "ZZ99 000")]
                + [event("gate-2", 1, "kx71 abc", NOW + 20)],
            )
        ],
    )
    report(
        stub,
        [
            convert.report_request(
                "cam-b",
                1,
                [event("door", i, f"AB{i:02d} XYZ") for i in range(1, 8)] + [event("door", 8, "KX71ABC", NOW + 40)],
            )
        ],
    )
    pages, token = [], ""
    while True:
        page = stub.QueryEvents(fleet_pb2.QueryEventsRequest(page_size=4, page_token=token))
        pages.append(len(page.events))
        token = page.next_page_token
        if not token:
            break
    assert sum(pages) == 11 and pages[0] == 4 and len(pages) == 3
    prefix = stub.QueryEvents(
        fleet_pb2.QueryEventsRequest(filter=fleet_pb2.EventFilter(text="ab0", text_match=fleet_pb2.TEXT_MATCH_PREFIX))
    )
    assert len(prefix.events) == 7
    devices = stub.ListDevices(fleet_pb2.ListDevicesRequest())
    assert sorted(d.device_id for d in devices.devices) == ["cam-a", "cam-b"]
    stats = convert.stats_of(stub.GetFleetStats(fleet_pb2.GetFleetStatsRequest()))
    assert (stats.devices, stats.streams, stats.events) == (2, 3, 11)
    request = fleet_pb2.ListSightingsRequest(filter=fleet_pb2.EventFilter(text="KX71ABC"), min_streams=2)
    request.window.FromSeconds(300)
    sightings = [convert.sighting_of(s) for s in stub.ListSightings(request).sightings]
    assert len(sightings) == 1
    assert {(p.device_id, p.stream_id) for p in sightings[0].places} == {
        ("cam-a", "gate-1"),
        ("cam-a", "gate-2"),
        ("cam-b", "door"),
    }
    deleted = stub.DeleteDeviceData(fleet_pb2.DeleteDeviceDataRequest(device_id="cam-b"))
    assert (deleted.deleted_events, deleted.device_existed) == (8, True)
    left = stub.QueryEvents(fleet_pb2.QueryEventsRequest(filter=fleet_pb2.EventFilter(device_id="cam-b")))
    assert len(left.events) == 0
    assert [d.device_id for d in stub.ListDevices(fleet_pb2.ListDevicesRequest()).devices] == ["cam-a"]


def test_watch_tails_commits_and_resumes_from_a_cursor(served) -> None:
    _, stub, _ = served
    report(stub, [convert.report_request("cam-w", 1, [event("s", 1)])])
    got: list = []
    call = stub.WatchEvents(fleet_pb2.WatchEventsRequest(filter=fleet_pb2.EventFilter(device_id="cam-w")), timeout=30)

    def tail() -> None:
        try:
            for response in call:
                got.append(response.event)
                if len(got) == 3:
                    call.cancel()
        except grpc.RpcError:
            pass

    reader = threading.Thread(target=tail)
    reader.start()
    time.sleep(0.5)  # the watch starts "from now": event 1 is before it
    report(stub, [convert.report_request("cam-w", 2, [event("s", 2), event("s", 3)])])
    report(stub, [convert.report_request("cam-w", 3, [event("s", 4)])])
    reader.join(20)
    assert [e.event.sequence for e in got] == [2, 3, 4]
    resumed = stub.WatchEvents(fleet_pb2.WatchEventsRequest(cursor=got[0].cursor), timeout=30)
    assert [next(resumed).event.event.sequence for _ in range(2)] == [3, 4]
    resumed.cancel()


def test_watch_since_replays_stored_events_then_follows(served) -> None:
    """`watch --since`: the events captured since then that are already stored come first, then new ones, each
    once: one walk in commit order, so there is no seam to lose or repeat an event at."""
    _, stub, _ = served
    report(stub, [convert.report_request("cam-s", 1, [event("s", 1, at=NOW - 7200), event("s", 2, at=NOW - 60)])])
    report(stub, [convert.report_request("cam-s", 2, [event("s", 3, at=NOW - 30)])])
    since = fleet_pb2.EventFilter(device_id="cam-s")
    since.start_time.FromSeconds(int(NOW - 3600))
    call = stub.WatchEvents(fleet_pb2.WatchEventsRequest(filter=since), timeout=30)
    got = [next(call).event.event.sequence for _ in range(2)]  # stored: 2 and 3 (1 is older than the hour)
    report(stub, [convert.report_request("cam-s", 3, [event("s", 4, at=NOW), event("s", 5, at=NOW - 9000)])])
    got.append(next(call).event.event.sequence)  # new, in the window; 5 was captured before it
    call.cancel()
    assert got == [2, 3, 4]


def test_a_central_loads_no_models_and_says_so(served) -> None:
    server, stub, channel = served
    health = health_pb2_grpc.HealthStub(channel)
    for service, want in (
        ("", health_pb2.HealthCheckResponse.SERVING),
        (FLEET_SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING),
    ):
        assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == want
    with pytest.raises(grpc.RpcError) as caught:
        ocr_pb2_grpc.OcrServiceStub(channel).GetServerInfo(ocr_pb2.GetServerInfoRequest(), timeout=10)
    assert caught.value.code() == S.UNIMPLEMENTED
    assert server.plane.engine is None and SERVICE_NAME not in server.server.services


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_a_device_reports_only_as_itself_and_scopes_hold(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tokens": [
                    {"sha256": _sha("cam-01-token"), "principal": "cam-01", "scopes": ["fleet.report"]},
                    {"sha256": _sha("ops-token"), "principal": "ops", "scopes": ["fleet.query"]},
                    {"sha256": _sha("admin-token"), "principal": "admin", "scopes": ["fleet.query", "fleet.admin"]},
                ]
            }
        )
    )
    server = central(f"sqlite:///{tmp_path / 'fleet.db'}", tokens_file=str(tokens))
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            cam, ops, admin = (
                (("authorization", f"Bearer {t}"),) for t in ("cam-01-token", "ops-token", "admin-token")
            )
            ((_, result),) = report(stub, [convert.report_request("", 1, [event("gate", 1)])], cam)
            assert result.stored == 1  # no device_id: the caller's principal
            with pytest.raises(grpc.RpcError) as caught:
                report(stub, [convert.report_request("cam-02", 1, [event("gate", 1)])], cam)
            assert (caught.value.code(), reason_of(caught.value)) == (S.PERMISSION_DENIED, "PRINCIPAL_MISMATCH")
            with pytest.raises(grpc.RpcError) as caught:
                stub.QueryEvents(fleet_pb2.QueryEventsRequest(), metadata=cam, timeout=10)
            assert reason_of(caught.value) == "SCOPE_MISSING"
            with pytest.raises(grpc.RpcError) as caught:
                report(stub, [convert.report_request("cam-01", 1)], ops)
            assert reason_of(caught.value) == "SCOPE_MISSING"
            with pytest.raises(grpc.RpcError) as caught:
                stub.DeleteDeviceData(fleet_pb2.DeleteDeviceDataRequest(device_id="cam-01"), metadata=ops, timeout=10)
            assert reason_of(caught.value) == "SCOPE_MISSING"
            with pytest.raises(grpc.RpcError) as caught:
                stub.GetFleetStats(fleet_pb2.GetFleetStatsRequest(), timeout=10)
            assert (caught.value.code(), reason_of(caught.value)) == (S.UNAUTHENTICATED, "TOKEN_MISSING")
            found = stub.QueryEvents(fleet_pb2.QueryEventsRequest(), metadata=ops, timeout=10)
            assert [e.device_id for e in found.events] == ["cam-01"]
            deleted = stub.DeleteDeviceData(
                fleet_pb2.DeleteDeviceDataRequest(device_id="cam-01"), metadata=admin, timeout=10
            )
            assert deleted.deleted_events == 1
    finally:
        server.stop()


def test_fleet_metrics_count_reports(tmp_path: Path) -> None:
    server = central(f"sqlite:///{tmp_path / 'fleet.db'}")
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            report(
                stub,
                [
                    convert.report_request("cam-m", 1, [event("s", 1), event("s", 2)]),
                    convert.report_request("cam-m", 2, [event("s", 2), event("s", 5)]),
                ],
            )
        registry = server.server.metrics.registry
        value = registry.get_sample_value
        assert value("ocr_fleet_events_total", {"result": "stored"}) == 2
        assert value("ocr_fleet_events_total", {"result": "duplicate"}) == 1
        assert value("ocr_fleet_events_total", {"result": "out_of_order"}) == 1
        assert value("ocr_fleet_report_commit_seconds_count") == 2
        assert value("ocr_fleet_device_last_seen_timestamp_seconds", {"device": "cam-m"}) >= NOW
    finally:
        server.stop()


def test_filters_of_a_query_reach_the_store(served) -> None:
    """The proto filter means what the domain filter means (types, confidence, time range)."""
    _, stub, _ = served
    report(
        stub,
        [
            convert.report_request(
                "cam-f", 1, [event("s", 1, "AAA", NOW - 7200, 0.4), event("s", 2, "BBB", NOW - 60, 0.95)]
            )
        ],
    )
    flt = convert.filter_message(
        EventFilter(device_id="cam-f", start_time=NOW - 3600, min_confidence=0.5, types=("APPEARED",))
    )
    found = stub.QueryEvents(fleet_pb2.QueryEventsRequest(filter=flt))
    assert [e.event.text for e in found.events] == ["BBB"]
