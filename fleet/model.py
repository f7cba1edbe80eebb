"""The fleet's domain beyond the wire: what the central needs of its store, and how texts are compared.

The types that travel in messages (``Event``, ``EventFilter``, ...) are the client library's
``clients.ocr_client.fleet_types``: the wire contract lives beside the generated code it maps to.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from clients.ocr_client.fleet_types import (
        DeleteResult,
        DeviceStatus,
        Event,
        EventFilter,
        FleetStats,
        Gap,
        IngestResult,
        Page,
        StoredEvent,
    )

__all__ = ["FleetStore", "normalize_text", "field_condition"]


def normalize_text(text: str) -> str:
    """The form texts are compared in (filters, sightings): NFKC, upper case, letters and digits only, so
    "kx71-abc" and "KX71 ABC" are the same plate."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in folded if ch.isalnum())


def field_condition(condition: str) -> tuple[str, str | None]:
    """A filter's field condition, "NAME" or "NAME=VALUE", as (name, normalized value or None). The value is
    compared in ``normalize_text``'s form, so "--field container=CSQU 305438-3" finds "CSQU3054383"."""
    name, sep, value = condition.partition("=")
    return name.strip(), normalize_text(value) if sep else None


class FleetStore(Protocol):
    """What the central needs of its store (``fleet.store.open_store(url)`` returns one). Every method is
    synchronous and thread-safe; the transport runs them in a thread pool."""

    kind: str  # "sqlite" or "postgresql"
    retention_s: float

    def ingest(
        self, device_id: str, events: Sequence[Event], gaps: Sequence[Gap], status: DeviceStatus | None, now: float
    ) -> IngestResult:
        """Commit a report in one transaction: store each event whose sequence is its stream's high-water mark
        + 1 (gaps advance the mark over declared drops), count lower ones as duplicates and higher ones as out
        of order (not stored); update the device's status and last_seen. Idempotent on (device, stream,
        sequence). Returns the marks of the report's streams (of all the device's streams when it has no events
        and no gaps)."""

    def ingest_many(
        self, reports: Sequence[tuple[str, Sequence[Event], Sequence[Gap], DeviceStatus | None]], now: float
    ) -> list[IngestResult]:
        """``ingest`` for each (device_id, events, gaps, status), in one transaction (one commit for all)."""

    def acks(self, device_id: str) -> dict[str, int]: ...

    def query(self, flt: EventFilter, page_size: int, page_token: str = "", newest_first: bool = False) -> Page:
        """StoredEvents by capture_time (then cursor); raises ValueError for a token of another query."""

    def events_after(self, cursor: int, flt: EventFilter, limit: int) -> list[StoredEvent]:
        """Events committed after ``cursor`` (commit order) that match; for WatchEvents."""

    def last_cursor(self) -> int: ...

    def devices(self, page_size: int, page_token: str = "") -> Page: ...

    def stats(self, now: float) -> FleetStats: ...

    def sightings(
        self, flt: EventFilter, window_s: float, min_streams: int, page_size: int, page_token: str = ""
    ) -> Page: ...

    def delete_device(self, device_id: str) -> DeleteResult: ...

    def expire(self, now: float) -> int:
        """Delete events captured before now - retention_s (none when retention_s is 0); returns how many."""

    def make_partitions(self, now: float) -> list[str]:
        """Partitions of events for the days ahead of ``now`` that are missing (PostgreSQL; none on SQLite)."""

    def close(self) -> None: ...
