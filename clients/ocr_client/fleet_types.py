"""The fleet's wire contract as plain dataclasses: what travels in fleet.v1 messages, on the client's side.

The edge agent, the central and operators' tools all speak these types; ``fleet_convert`` maps them to and from
the generated messages. Times are seconds since the epoch (float, UTC). Event types are
``edge_runtime.stream.EventType`` names (APPEARED, UPDATED, STABLE, DISAPPEARED); drop reasons are
``DROP_REASONS``. Texts in filters are compared in the central's normalized form (NFKC, upper case, letters and
digits only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "EVENT_TYPES",
    "DROP_REASONS",
    "TEXT_MATCHES",
    "EventField",
    "Event",
    "Gap",
    "DeviceStatus",
    "IngestResult",
    "EventFilter",
    "StoredEvent",
    "StreamInfo",
    "DeviceInfo",
    "FleetStats",
    "SightingPlace",
    "Sighting",
    "DeleteResult",
    "Page",
]

EVENT_TYPES = ("APPEARED", "UPDATED", "STABLE", "DISAPPEARED")
DROP_REASONS = ("OUTBOX_FULL", "REJECTED_NEW", "EXPIRED", "REFUSED")  # DROP_OLDEST, REJECT_NEW, TTL, refused by
# the central as invalid (quarantined by the agent)
TEXT_MATCHES = ("EXACT", "PREFIX", "CONTAINS")


@dataclass(frozen=True)
class EventField:
    """A key field read in an event's text (edge_runtime.fields): ``value`` normalised, ``text`` as printed."""

    name: str
    value: str
    text: str
    confidence: float
    field_set: str = ""  # the set that found it: "receipt", or a deployment's set


@dataclass(frozen=True)
class Event:
    """One text event of one stream, as the agent produced it (sequence: 1, 2, ... per stream)."""

    stream_id: str
    sequence: int
    capture_time: float
    type: str
    track_id: int
    text: str
    confidence: float
    polygon: tuple[tuple[float, float], ...] = ()
    frame_width: int = 0
    frame_height: int = 0
    bundle: str = ""
    backend: str = ""
    precision: Mapping[str, str] = field(default_factory=dict)
    previous_text: str = ""
    frame_sequence: int = 0
    fields: tuple[EventField, ...] = ()  # the stream's field sets applied to the tracked line's text


@dataclass(frozen=True)
class Gap:
    """Sequences ``first``..``last`` (inclusive) of a stream that the agent dropped and will never send."""

    stream_id: str
    first: int
    last: int
    reason: str  # one of DROP_REASONS


@dataclass(frozen=True)
class DeviceStatus:
    """What a device says about itself with each report (drops are totals since its outbox was created)."""

    backlog_events: int = 0
    backlog_bytes: int = 0
    drops: Mapping[str, int] = field(default_factory=dict)
    bundle: str = ""
    backend: str = ""
    precision: Mapping[str, str] = field(default_factory=dict)
    software_version: str = ""
    oldest_backlog_time: float | None = None


@dataclass(frozen=True)
class IngestResult:
    """The committed outcome of one report: per-stream high-water marks and what happened to its events."""

    acks: Mapping[str, int]
    stored: int = 0
    duplicates: int = 0
    out_of_order: int = 0


@dataclass(frozen=True)
class EventFilter:
    """Unset fields match everything; ``text`` is compared normalized (the central's normalized form)."""

    device_id: str = ""
    stream_id: str = ""
    start_time: float | None = None  # capture_time >= start_time
    end_time: float | None = None  # capture_time < end_time
    types: tuple[str, ...] = ()
    text: str = ""
    text_match: str = "EXACT"  # one of TEXT_MATCHES
    min_confidence: float = 0.0
    # Each "NAME" (the event carries a field of that name) or "NAME=VALUE" (... whose value is VALUE, compared
    # normalized); an event must match all of them.
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredEvent:
    device_id: str
    event: Event
    normalized_text: str
    receive_time: float
    cursor: int  # the store's commit-order position (WatchEvents resumes after it)


@dataclass(frozen=True)
class StreamInfo:
    stream_id: str
    acked_sequence: int
    last_capture_time: float | None
    events: int


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    last_seen: float
    status: DeviceStatus
    streams: tuple[StreamInfo, ...]
    events: int


@dataclass(frozen=True)
class FleetStats:
    devices: int
    streams: int
    events: int
    events_by_type: Mapping[str, int]
    drops: Mapping[str, int]
    events_last_hour: int
    oldest_capture_time: float | None
    newest_capture_time: float | None
    store: str  # "sqlite" or "postgresql"
    retention_s: float  # 0: forever


@dataclass(frozen=True)
class SightingPlace:
    device_id: str
    stream_id: str
    first_seen: float
    last_seen: float
    events: int
    text: str  # the most confident reading, as read
    confidence: float


@dataclass(frozen=True)
class Sighting:
    normalized_text: str
    first_seen: float
    last_seen: float
    places: tuple[SightingPlace, ...]  # by first_seen


@dataclass(frozen=True)
class DeleteResult:
    deleted_events: int
    deleted_streams: int
    device_existed: bool


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_token`` is empty on the last page. Tokens are opaque strings."""

    items: tuple
    next_token: str = ""
