"""The one module that converts between fleet.v1 protobuf messages and the wire dataclasses (fleet_types).

The central's servicer, the edge agent's uploader and the operators' client all go through it, in both
directions, so a field is mapped once; it needs the protobuf messages only, not grpc. Times are float seconds
since the epoch; an unset Timestamp is None (an event's unset capture time is NaN, which the central's validation
refuses). Enum values map to the dataclasses' names without their prefix (``EVENT_TYPE_APPEARED`` <->
``"APPEARED"``); an unset or unknown enum value becomes ``""``, which validation refuses with a stable reason,
except ``TextMatch`` where unset means EXACT.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import overload

from google.protobuf.duration_pb2 import Duration
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from clients.ocr_client.fleet_types import (
    DeleteResult,
    DeviceInfo,
    DeviceStatus,
    Event,
    EventField,
    EventFilter,
    FleetStats,
    Gap,
    IngestResult,
    Sighting,
    SightingPlace,
    StoredEvent,
    StreamInfo,
)
from clients.ocr_client.messages import fleet_pb2

__all__ = [
    "time_of",
    "duration_of",
    "set_duration",
    "event_message",
    "event_of",
    "gap_message",
    "gap_of",
    "status_message",
    "status_of",
    "report_request",
    "report_of",
    "report_response",
    "ingest_result_of",
    "filter_message",
    "filter_of",
    "stored_event_message",
    "stored_event_of",
    "device_message",
    "device_of",
    "stats_message",
    "stats_of",
    "sighting_message",
    "sighting_of",
    "delete_response",
    "delete_result_of",
    "drops_of",
]

pb = fleet_pb2


# ---- scalars ----------------------------------------------------------------------------------------------
def _set_time(message: Message, field: str, seconds: float | None) -> None:
    if seconds is not None and math.isfinite(seconds):
        _split(getattr(message, field), seconds)


def _split(message: Timestamp | Duration, seconds: float) -> None:
    """Whole seconds and nanoseconds apart: ``seconds * 1e9`` as one float would lose the sub-microsecond part."""
    whole = math.floor(seconds)
    nanos = int(round((seconds - whole) * 1e9))
    whole, nanos = (whole + 1, nanos - 1_000_000_000) if nanos >= 1_000_000_000 else (whole, nanos)
    message.seconds, message.nanos = whole, nanos


@overload
def time_of(message: Message, field: str) -> float | None: ...
@overload
def time_of(message: Message, field: str, unset: float) -> float: ...
def time_of(message: Message, field: str, unset: float | None = None) -> float | None:
    """Seconds of ``message.field``, or ``unset`` when the field is not set."""
    if not message.HasField(field):
        return unset
    ts = getattr(message, field)
    return ts.seconds + ts.nanos / 1e9


def set_duration(message: Message, field: str, seconds: float) -> None:
    """Write ``seconds`` into the Duration field ``field``."""
    _split(getattr(message, field), seconds)


def duration_of(message: Message, field: str) -> float | None:
    """Seconds of a Duration field, or None when it is not set."""
    if not message.HasField(field):
        return None
    d = getattr(message, field)
    return d.seconds + d.nanos / 1e9


def _enum_name(enum: EnumTypeWrapper, value: int, prefix: str) -> str:
    """``EVENT_TYPE_APPEARED`` -> ``APPEARED``; unset or unknown -> ``""`` (refused by validation)."""
    if value == 0:
        return ""
    try:
        return enum.Name(value).removeprefix(prefix)
    except ValueError:
        return ""


def _enum_label(enum: EnumTypeWrapper, name: str, prefix: str) -> str:
    """``APPEARED`` -> ``EVENT_TYPE_APPEARED``; unknown -> the unset label. The messages take an enum field by its
    label (the generated types accept the label, not a bare int)."""
    label = prefix + name
    return label if label in enum.DESCRIPTOR.values_by_name else enum.Name(0)


def _event_type(name: str) -> str:
    return _enum_label(pb.EventType, name, "EVENT_TYPE_")


def _event_type_of(value: int) -> str:
    return _enum_name(pb.EventType, value, "EVENT_TYPE_")


def _reason(name: str) -> str:
    return _enum_label(pb.DropReason, name, "DROP_REASON_")


def _reason_of(value: int) -> str:
    return _enum_name(pb.DropReason, value, "DROP_REASON_")


def _drop_counts(drops: Mapping[str, int]) -> list[pb.DropCount]:
    return [pb.DropCount(reason=_reason(r), events=n) for r, n in sorted(drops.items())]


def drops_of(counts: Iterable[pb.DropCount]) -> dict[str, int]:
    """DropCount messages -> {reason: events}; an unset reason keeps the key ``""`` (validation refuses it)."""
    out: dict[str, int] = {}
    for c in counts:
        key = _reason_of(c.reason)
        out[key] = out.get(key, 0) + c.events
    return out


def _provenance(bundle: str, backend: str, precision: Mapping[str, str]) -> pb.Provenance:
    return pb.Provenance(bundle_id=bundle, backend=backend, stage_precision=dict(precision))


# ---- events, gaps, status ----------------------------------------------------------------------------------
def event_message(event: Event) -> pb.TextEvent:
    m = pb.TextEvent(
        stream_id=event.stream_id,
        sequence=event.sequence,
        type=_event_type(event.type),
        track_id=event.track_id,
        text=event.text,
        confidence=event.confidence,
        polygon=[pb.Point(x=x, y=y) for x, y in event.polygon],
        frame_width=event.frame_width,
        frame_height=event.frame_height,
        previous_text=event.previous_text,
        frame_sequence=event.frame_sequence,
        fields=[
            pb.EventField(name=f.name, value=f.value, text=f.text, confidence=f.confidence, field_set=f.field_set)
            for f in event.fields
        ],
    )
    _set_time(m, "capture_time", event.capture_time)
    if event.bundle or event.backend or event.precision:
        m.provenance.CopyFrom(_provenance(event.bundle, event.backend, event.precision))
    return m


def event_of(m: pb.TextEvent) -> Event:
    p = m.provenance
    return Event(
        stream_id=m.stream_id,
        sequence=m.sequence,
        capture_time=time_of(m, "capture_time", math.nan),
        type=_event_type_of(m.type),
        track_id=m.track_id,
        text=m.text,
        confidence=m.confidence,
        polygon=tuple((pt.x, pt.y) for pt in m.polygon),
        frame_width=m.frame_width,
        frame_height=m.frame_height,
        bundle=p.bundle_id,
        backend=p.backend,
        precision=dict(p.stage_precision),
        previous_text=m.previous_text,
        frame_sequence=m.frame_sequence,
        fields=tuple(EventField(f.name, f.value, f.text, f.confidence, f.field_set) for f in m.fields),
    )


def gap_message(gap: Gap) -> pb.SequenceGap:
    return pb.SequenceGap(
        stream_id=gap.stream_id, first_sequence=gap.first, last_sequence=gap.last, reason=_reason(gap.reason)
    )


def gap_of(m: pb.SequenceGap) -> Gap:
    return Gap(stream_id=m.stream_id, first=m.first_sequence, last=m.last_sequence, reason=_reason_of(m.reason))


def status_message(status: DeviceStatus) -> pb.DeviceStatus:
    m = pb.DeviceStatus(
        backlog_events=status.backlog_events,
        backlog_bytes=status.backlog_bytes,
        drops=_drop_counts(status.drops),
        software_version=status.software_version,
    )
    if status.bundle or status.backend or status.precision:
        m.provenance.CopyFrom(_provenance(status.bundle, status.backend, status.precision))
    _set_time(m, "oldest_backlog_time", status.oldest_backlog_time)
    return m


def status_of(m: pb.DeviceStatus) -> DeviceStatus:
    p = m.provenance
    return DeviceStatus(
        backlog_events=m.backlog_events,
        backlog_bytes=m.backlog_bytes,
        drops=drops_of(m.drops),
        bundle=p.bundle_id,
        backend=p.backend,
        precision=dict(p.stage_precision),
        software_version=m.software_version,
        oldest_backlog_time=time_of(m, "oldest_backlog_time"),
    )


# ---- ReportEvents ------------------------------------------------------------------------------------------
def report_request(
    device_id: str,
    batch_id: int,
    events: Sequence[Event] = (),
    gaps: Sequence[Gap] = (),
    status: DeviceStatus | None = None,
) -> pb.ReportEventsRequest:
    m = pb.ReportEventsRequest(
        device_id=device_id,
        batch_id=batch_id,
        events=[event_message(e) for e in events],
        gaps=[gap_message(g) for g in gaps],
    )
    if status is not None:
        m.status.CopyFrom(status_message(status))
    return m


def report_of(m: pb.ReportEventsRequest) -> tuple[str, int, list[Event], list[Gap], DeviceStatus | None]:
    """(device_id as sent, batch_id, events, gaps, status or None)."""
    status = status_of(m.status) if m.HasField("status") else None
    return m.device_id, m.batch_id, [event_of(e) for e in m.events], [gap_of(g) for g in m.gaps], status


def report_response(batch_id: int, result: IngestResult) -> pb.ReportEventsResponse:
    return pb.ReportEventsResponse(
        batch_id=batch_id,
        acks=[pb.StreamAck(stream_id=s, acked_sequence=n) for s, n in sorted(result.acks.items())],
        stored_events=result.stored,
        duplicate_events=result.duplicates,
        out_of_order_events=result.out_of_order,
    )


def ingest_result_of(m: pb.ReportEventsResponse) -> tuple[int, IngestResult]:
    """(batch_id, result) of a ReportEventsResponse."""
    return m.batch_id, IngestResult(
        acks={a.stream_id: a.acked_sequence for a in m.acks},
        stored=m.stored_events,
        duplicates=m.duplicate_events,
        out_of_order=m.out_of_order_events,
    )


# ---- questions ---------------------------------------------------------------------------------------------
def filter_message(flt: EventFilter) -> pb.EventFilter:
    m = pb.EventFilter(
        device_id=flt.device_id,
        stream_id=flt.stream_id,
        types=[_event_type(t) for t in flt.types],
        text=flt.text,
        text_match=_enum_label(pb.TextMatch, flt.text_match, "TEXT_MATCH_"),
        min_confidence=flt.min_confidence,
        fields=list(flt.fields),
    )
    _set_time(m, "start_time", flt.start_time)
    _set_time(m, "end_time", flt.end_time)
    return m


def filter_of(m: pb.EventFilter) -> EventFilter:
    return EventFilter(
        device_id=m.device_id,
        stream_id=m.stream_id,
        start_time=time_of(m, "start_time"),
        end_time=time_of(m, "end_time"),
        types=tuple(_event_type_of(t) for t in m.types),
        text=m.text,
        text_match=_enum_name(pb.TextMatch, m.text_match, "TEXT_MATCH_") or "EXACT",
        min_confidence=m.min_confidence,
        fields=tuple(m.fields),
    )


def stored_event_message(stored: StoredEvent) -> pb.StoredEvent:
    m = pb.StoredEvent(
        device_id=stored.device_id,
        event=event_message(stored.event),
        normalized_text=stored.normalized_text,
        cursor=str(stored.cursor),
    )
    _set_time(m, "receive_time", stored.receive_time)
    return m


def stored_event_of(m: pb.StoredEvent) -> StoredEvent:
    return StoredEvent(
        device_id=m.device_id,
        event=event_of(m.event),
        normalized_text=m.normalized_text,
        receive_time=time_of(m, "receive_time", 0.0),
        cursor=int(m.cursor or 0),
    )


def device_message(device: DeviceInfo) -> pb.Device:
    m = pb.Device(device_id=device.device_id, status=status_message(device.status), events=device.events)
    _set_time(m, "last_seen", device.last_seen)
    for s in device.streams:
        info = m.streams.add(stream_id=s.stream_id, acked_sequence=s.acked_sequence, events=s.events)
        _set_time(info, "last_capture_time", s.last_capture_time)
    return m


def device_of(m: pb.Device) -> DeviceInfo:
    streams = tuple(
        StreamInfo(
            stream_id=s.stream_id,
            acked_sequence=s.acked_sequence,
            last_capture_time=time_of(s, "last_capture_time"),
            events=s.events,
        )
        for s in m.streams
    )
    return DeviceInfo(
        device_id=m.device_id,
        last_seen=time_of(m, "last_seen", 0.0),
        status=status_of(m.status),
        streams=streams,
        events=m.events,
    )


def stats_message(stats: FleetStats) -> pb.GetFleetStatsResponse:
    m = pb.GetFleetStatsResponse(
        devices=stats.devices,
        streams=stats.streams,
        events=stats.events,
        events_by_type=[
            pb.EventTypeCount(type=_event_type(t), events=n) for t, n in sorted(stats.events_by_type.items())
        ],
        drops=_drop_counts(stats.drops),
        events_last_hour=stats.events_last_hour,
        store=stats.store,
    )
    _set_time(m, "oldest_capture_time", stats.oldest_capture_time)
    _set_time(m, "newest_capture_time", stats.newest_capture_time)
    set_duration(m, "retention", stats.retention_s)
    return m


def stats_of(m: pb.GetFleetStatsResponse) -> FleetStats:
    return FleetStats(
        devices=m.devices,
        streams=m.streams,
        events=m.events,
        events_by_type={_event_type_of(c.type): c.events for c in m.events_by_type},
        drops=drops_of(m.drops),
        events_last_hour=m.events_last_hour,
        oldest_capture_time=time_of(m, "oldest_capture_time"),
        newest_capture_time=time_of(m, "newest_capture_time"),
        store=m.store,
        retention_s=duration_of(m, "retention") or 0.0,
    )


def sighting_message(sighting: Sighting) -> pb.Sighting:
    m = pb.Sighting(normalized_text=sighting.normalized_text)
    _set_time(m, "first_seen", sighting.first_seen)
    _set_time(m, "last_seen", sighting.last_seen)
    for p in sighting.places:
        place = m.places.add(
            device_id=p.device_id, stream_id=p.stream_id, events=p.events, text=p.text, confidence=p.confidence
        )
        _set_time(place, "first_seen", p.first_seen)
        _set_time(place, "last_seen", p.last_seen)
    return m


def sighting_of(m: pb.Sighting) -> Sighting:
    places = tuple(
        SightingPlace(
            device_id=p.device_id,
            stream_id=p.stream_id,
            first_seen=time_of(p, "first_seen", 0.0),
            last_seen=time_of(p, "last_seen", 0.0),
            events=p.events,
            text=p.text,
            confidence=p.confidence,
        )
        for p in m.places
    )
    return Sighting(
        normalized_text=m.normalized_text,
        first_seen=time_of(m, "first_seen", 0.0),
        last_seen=time_of(m, "last_seen", 0.0),
        places=places,
    )


def delete_response(result: DeleteResult) -> pb.DeleteDeviceDataResponse:
    return pb.DeleteDeviceDataResponse(
        deleted_events=result.deleted_events,
        deleted_streams=result.deleted_streams,
        device_existed=result.device_existed,
    )


def delete_result_of(m: pb.DeleteDeviceDataResponse) -> DeleteResult:
    return DeleteResult(
        deleted_events=m.deleted_events, deleted_streams=m.deleted_streams, device_existed=m.device_existed
    )
