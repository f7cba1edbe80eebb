"""The fleet over HTTP against a real central (SQLite, no models): lists and queries equal gRPC's, filters from
the query string, a live watch as server-sent events that resumes from Last-Event-ID, deletion by DELETE."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from clients.ocr_client.pb import fleet_pb2, fleet_pb2_grpc
from clients.ocr_client.results import to_dict
from server.config import ServerConfig
from tests.server.httpcalls import http, http_server

START = int(time.time()) - 60


def _no_engine():
    raise AssertionError("a central must not load OCR models")


@pytest.fixture
def central(tmp_path: Path):
    config = ServerConfig(host="127.0.0.1", port=0, role="central", fleet_store=f"sqlite:///{tmp_path / 'fleet.db'}")
    server = http_server(_no_engine, config)
    channel = grpc.insecure_channel(server.target)
    yield server, fleet_pb2_grpc.FleetServiceStub(channel)
    channel.close()
    server.stop()


def event(sequence: int, text: str, stream: str = "gate", second: int = 0) -> fleet_pb2.TextEvent:
    return fleet_pb2.TextEvent(
        stream_id=stream,
        sequence=sequence,
        capture_time=Timestamp(seconds=START + (second or sequence)),
        type=fleet_pb2.EVENT_TYPE_APPEARED,
        track_id=sequence,
        text=text,
        confidence=0.9,
    )


def report(stub, device: str, batch: int, events: list[fleet_pb2.TextEvent]) -> None:
    request = fleet_pb2.ReportEventsRequest(device_id=device, batch_id=batch, events=events)
    list(stub.ReportEvents(iter([request]), timeout=60))


def test_lists_and_queries_equal_grpc(central):
    server, stub = central
    report(stub, "cam-1", 1, [event(1, "KX71 ABC"), event(1, "KX71 ABC", "door", 5), event(2, "ZZ 999")])
    devices = http(server.http_base, "GET", "/v1/devices?page_size=10")
    assert devices.status == 200
    assert devices.json() == to_dict(stub.ListDevices(fleet_pb2.ListDevicesRequest(page_size=10), timeout=60))
    assert [d["device_id"] for d in devices.json()["devices"]] == ["cam-1"]

    query = "/v1/events?filter.device_id=cam-1&filter.text=kx71abc&filter.text_match=TEXT_MATCH_EXACT&newest_first=true"
    events = http(server.http_base, "GET", query)
    assert events.status == 200, events.body
    request = fleet_pb2.QueryEventsRequest(
        filter=fleet_pb2.EventFilter(device_id="cam-1", text="kx71abc", text_match=fleet_pb2.TEXT_MATCH_EXACT),
        newest_first=True,
    )
    assert events.json() == to_dict(stub.QueryEvents(request, timeout=60))
    streams = [(e["event"]["stream_id"], e["event"]["sequence"]) for e in events.json()["events"]]
    assert streams == [("door", "1"), ("gate", "1")]  # newest first; int64 is a string in JSON

    typed = http(server.http_base, "GET", "/v1/events?filter.types=EVENT_TYPE_STABLE&filter.types=EVENT_TYPE_UPDATED")
    assert typed.status == 200 and typed.json()["events"] == []
    sightings = http(server.http_base, "GET", "/v1/sightings?window=600s&min_streams=2")
    assert sightings.status == 200
    (sighting,) = sightings.json()["sightings"]
    assert sighting["normalized_text"] == "KX71ABC" and len(sighting["places"]) == 2


@pytest.mark.parametrize(
    "query",
    [
        "/v1/events?filter.nope=1",
        "/v1/events?page_size=ten",
        "/v1/events?newest_first=maybe",
        "/v1/events?filter.types=EVENT_TYPE_NOPE",
        "/v1/events?filter.start_time=yesterday",
        "/v1/events?filter=x",
        "/v1/events?page_size=1&page_size=2",
    ],
)
def test_bad_query_parameters_are_refused(central, query):
    server, _ = central
    answer = http(server.http_base, "GET", query)
    assert (answer.status, answer.reason) == (400, "REQUEST_MALFORMED")


def test_store_errors_keep_their_reason(central):
    server, _ = central
    answer = http(server.http_base, "GET", "/v1/events?page_token=garbage")
    assert (answer.status, answer.reason) == (400, "PAGE_TOKEN_INVALID")


def test_delete_device_data(central):
    server, stub = central
    report(stub, "cam-2", 1, [event(1, "AB 12"), event(2, "CD 34")])
    answer = http(server.http_base, "DELETE", "/v1/devices/cam-2/data")
    assert answer.status == 200
    assert answer.json() == {"deleted_events": "2", "deleted_streams": "1", "device_existed": True}
    assert http(server.http_base, "GET", "/v1/devices").json()["devices"] == []
    assert http(server.http_base, "GET", "/v1/devices/cam-2/data").status == 405


def _read_events(response, count: int) -> list[tuple[str, dict]]:
    """(id, data) of the next ``count`` events of a server-sent event stream."""
    events: list[tuple[str, dict]] = []
    ident, data = "", ""
    while len(events) < count:
        line = response.readline().decode()
        assert line, "the stream ended early"
        line = line.rstrip("\n")
        if line.startswith("id: "):
            ident = line[4:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            events.append((ident, json.loads(data)))
            ident, data = "", ""
    return events


def test_watch_streams_server_sent_events_and_resumes(central):
    server, stub = central
    report(stub, "cam-3", 1, [event(1, "FIRST 1"), event(2, "SECOND 2")])
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START - 10))
    url = f"{server.http_base}/v1/events:watch?filter.device_id=cam-3&filter.start_time={since}"
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        (first_id, first), (_, second) = _read_events(response, 2)
        assert [first["event"]["event"]["text"], second["event"]["event"]["text"]] == ["FIRST 1", "SECOND 2"]
        assert first_id == first["event"]["cursor"]
        live = threading.Thread(target=report, args=(stub, "cam-3", 2, [event(3, "LIVE 3")]))
        live.start()
        ((_, third),) = _read_events(response, 1)
        live.join()
        assert third["event"]["event"]["text"] == "LIVE 3"
    resume = urllib.request.Request(f"{server.http_base}/v1/events:watch?filter.device_id=cam-3")
    resume.add_header("Last-Event-ID", first_id)
    with urllib.request.urlopen(resume, timeout=60) as response:
        texts = [data["event"]["event"]["text"] for _, data in _read_events(response, 2)]
    assert texts == ["SECOND 2", "LIVE 3"]


def test_a_refused_watch_answers_its_status(central):
    server, _ = central
    answer = http(server.http_base, "GET", "/v1/events:watch?cursor=not-a-cursor")
    assert (answer.status, answer.reason) == (400, "CURSOR_INVALID")
    assert http(server.http_base, "POST", "/v1/images:recognize", {}).status == 404  # a central reads no images
