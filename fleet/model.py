"""The fleet's domain types, shared by the agent, the store and the transport: plain dataclasses.

Times are seconds since the epoch (float, UTC). Event types are ``edge_runtime.stream.EventType`` names
(APPEARED, UPDATED, STABLE, DISAPPEARED); drop reasons are ``DROP_REASONS``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

__all__ = ["EVENT_TYPES", "DROP_REASONS", "TEXT_MATCHES", "Event", "Gap", "DeviceStatus", "IngestResult",
           "EventFilter", "StoredEvent", "StreamInfo", "DeviceInfo", "FleetStats", "SightingPlace", "Sighting",
           "DeleteResult", "Page", "FleetStore", "normalize_text"]

EVENT_TYPES = ("APPEARED", "UPDATED", "STABLE", "DISAPPEARED")
DROP_REASONS = ("OUTBOX_FULL", "REJECTED_NEW", "EXPIRED", "REFUSED")  # DROP_OLDEST, REJECT_NEW, TTL, refused by
# the central as invalid (quarantined by the agent)
TEXT_MATCHES = ("EXACT", "PREFIX", "CONTAINS")


def normalize_text(text: str) -> str:
    """The form texts are compared in (filters, sightings): NFKC, upper case, letters and digits only, so
    "kx71-abc" and "KX71 ABC" are the same plate."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in folded if ch.isalnum())


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
    """Unset fields match everything; ``text`` is compared normalized (see normalize_text)."""

    device_id: str = ""
    stream_id: str = ""
    start_time: float | None = None  # capture_time >= start_time
    end_time: float | None = None  # capture_time < end_time
    types: tuple[str, ...] = ()
    text: str = ""
    text_match: str = "EXACT"  # one of TEXT_MATCHES
    min_confidence: float = 0.0


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


class FleetStore(Protocol):
    """What the central needs of its store (``fleet.store.open_store(url)`` returns one). Every method is
    synchronous and thread-safe; the transport runs them in a thread pool."""

    kind: str  # "sqlite" or "postgresql"
    retention_s: float

    def ingest(self, device_id: str, events: Sequence[Event], gaps: Sequence[Gap],
               status: DeviceStatus | None, now: float) -> IngestResult:
        """Commit a report in one transaction: store each event whose sequence is its stream's high-water mark
        + 1 (gaps advance the mark over declared drops), count lower ones as duplicates and higher ones as out
        of order (not stored); update the device's status and last_seen. Idempotent on (device, stream,
        sequence). Returns the marks of the report's streams (of all the device's streams when it has no events
        and no gaps)."""

    def ingest_many(self, reports: Sequence[tuple[str, Sequence[Event], Sequence[Gap], DeviceStatus | None]],
                    now: float) -> list[IngestResult]:
        """``ingest`` for each (device_id, events, gaps, status), in one transaction (one commit for all)."""

    def acks(self, device_id: str) -> dict[str, int]: ...

    def query(self, flt: EventFilter, page_size: int, page_token: str = "", newest_first: bool = False) -> Page:
        """StoredEvents by capture_time (then cursor); raises ValueError for a token of another query."""

    def events_after(self, cursor: int, flt: EventFilter, limit: int) -> list[StoredEvent]:
        """Events committed after ``cursor`` (commit order) that match; for WatchEvents."""

    def last_cursor(self) -> int: ...

    def devices(self, page_size: int, page_token: str = "") -> Page: ...

    def stats(self, now: float) -> FleetStats: ...

    def sightings(self, flt: EventFilter, window_s: float, min_streams: int, page_size: int,
                  page_token: str = "") -> Page: ...

    def delete_device(self, device_id: str) -> DeleteResult: ...

    def expire(self, now: float) -> int:
        """Delete events captured before now - retention_s (none when retention_s is 0); returns how many."""

    def close(self) -> None: ...

