"""clients.ocr_client.fleet_convert: every wire type survives proto and back; unset and unknown enum values become what
validation refuses with a stable reason."""

from __future__ import annotations

import math

import pytest

from clients.ocr_client import fleet_convert as convert
from clients.ocr_client.fleet_types import (
    DeleteResult,
    DeviceInfo,
    DeviceStatus,
    Event,
    EventFilter,
    FleetStats,
    Gap,
    IngestResult,
    Sighting,
    SightingPlace,
    StoredEvent,
    StreamInfo,
)
from clients.ocr_client.pb import fleet_pb2
from fleet.central import validate_filter, validate_report
from fleet.errors import FleetRequestError

EVENT = Event(
    stream_id="gate-3",
    sequence=7,
    capture_time=1764892800.25,
    type="UPDATED",
    track_id=42,
    text="KX71 ABC",
    confidence=0.5,
    polygon=((1.0, 2.0), (30.5, 2.0), (30.5, 12.0), (1.0, 12.0)),
    frame_width=1280,
    frame_height=720,
    bundle="ppocrv6-small",
    backend="openvino",
    precision={"det": "int8", "cls": "fp32", "rec": "bf16"},
    previous_text="KX71 A8C",
    frame_sequence=913,
)
STATUS = DeviceStatus(
    backlog_events=12,
    backlog_bytes=3400,
    drops={"OUTBOX_FULL": 3, "EXPIRED": 1},
    bundle="ppocrv6-small",
    backend="openvino",
    precision={"det": "int8"},
    software_version="0.1.0",
    oldest_backlog_time=1764892700.5,
)


def test_report_round_trip() -> None:
    gaps = [Gap("gate-3", 1, 6, "OUTBOX_FULL")]
    message = convert.report_request("cam-01", 9, [EVENT], gaps, STATUS)
    again = fleet_pb2.ReportEventsRequest.FromString(message.SerializeToString())
    assert convert.report_of(again) == ("cam-01", 9, [EVENT], gaps, STATUS)


def test_hello_has_no_status_and_no_events() -> None:
    assert convert.report_of(convert.report_request("cam-01", 1)) == ("cam-01", 1, [], [], None)


def test_response_round_trip() -> None:
    result = IngestResult(acks={"a": 3, "b": 0}, stored=2, duplicates=1, out_of_order=4)
    assert convert.ingest_result_of(convert.report_response(5, result)) == (5, result)


def test_unset_capture_time_and_enums_are_refused_by_validation() -> None:
    event = convert.event_of(fleet_pb2.TextEvent(stream_id="s", sequence=1, confidence=0.5))
    assert math.isnan(event.capture_time) and event.type == ""
    with pytest.raises(FleetRequestError) as caught:
        validate_report("cam", [event], [], None, 10)
    assert caught.value.reason == "EVENT_INVALID"
    gap = convert.gap_of(fleet_pb2.SequenceGap(stream_id="s", first_sequence=1, last_sequence=2, reason=99))
    with pytest.raises(FleetRequestError) as caught:
        validate_report("cam", [], [gap], None, 10)
    assert caught.value.reason == "GAP_INVALID"


def test_filter_round_trip_and_defaults() -> None:
    flt = EventFilter(
        device_id="cam-01",
        stream_id="gate-3",
        start_time=100.0,
        end_time=200.5,
        types=("APPEARED", "STABLE"),
        text="kx71",
        text_match="PREFIX",
        min_confidence=0.25,
    )
    assert convert.filter_of(convert.filter_message(flt)) == flt
    assert convert.filter_of(fleet_pb2.EventFilter()) == EventFilter()
    with pytest.raises(FleetRequestError) as caught:
        validate_filter(convert.filter_of(fleet_pb2.EventFilter(types=[0])))
    assert caught.value.reason == "FILTER_INVALID"


def test_answers_round_trip() -> None:
    stored = StoredEvent("cam-01", EVENT, "KX71ABC", 1764892801.0, 12345)
    assert convert.stored_event_of(convert.stored_event_message(stored)) == stored
    device = DeviceInfo(
        "cam-01", 1764892802.0, STATUS, (StreamInfo("gate-3", 7, 1764892800.25, 7), StreamInfo("gate-4", 0, None, 0)), 7
    )
    assert convert.device_of(convert.device_message(device)) == device
    stats = FleetStats(
        devices=2,
        streams=3,
        events=10,
        events_by_type={"APPEARED": 6, "STABLE": 4},
        drops={"EXPIRED": 2},
        events_last_hour=5,
        oldest_capture_time=10.0,
        newest_capture_time=20.0,
        store="sqlite",
        retention_s=86400.0,
    )
    assert convert.stats_of(convert.stats_message(stats)) == stats
    sighting = Sighting(
        "KX71ABC",
        10.0,
        30.0,
        (
            SightingPlace("cam-01", "gate-3", 10.0, 12.0, 2, "KX71 ABC", 0.5),
            SightingPlace("cam-02", "gate-1", 29.0, 30.0, 1, "KX71ABC", 0.75),
        ),
    )
    assert convert.sighting_of(convert.sighting_message(sighting)) == sighting
    deleted = DeleteResult(5, 2, True)
    assert convert.delete_result_of(convert.delete_response(deleted)) == deleted


def test_times_round_trip() -> None:
    """Exactly for epoch times (a float's step there is coarser than a nanosecond), else to the nanosecond."""
    import random

    rng = random.Random(0)
    for seconds in [0.0, 1.5, 1764892800.25, 1764892800.999999999] + [rng.uniform(0, 4e9) for _ in range(2000)]:
        back = convert.filter_of(convert.filter_message(EventFilter(start_time=seconds))).start_time
        assert back == seconds if seconds >= 1e9 else abs(back - seconds) <= 1e-9
