"""Sightings: events of one normalized text, split where consecutive events (any stream) are more than a window
apart, one place per (device, stream). Pure Python over rows the store reads in (text, capture_time) order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from clients.ocr_client.fleet_types import Sighting, SightingPlace

__all__ = ["Row", "cluster"]


class Row(NamedTuple):
    normalized_text: str
    capture_time: float
    device_id: str
    stream_id: str
    text: str
    confidence: float


def _sighting(rows: list[Row]) -> Sighting:
    places: dict[tuple[str, str], list] = {}  # (device, stream) -> [first, last, events, text, confidence]
    for r in rows:
        place = places.get((r.device_id, r.stream_id))
        if place is None:
            places[(r.device_id, r.stream_id)] = [r.capture_time, r.capture_time, 1, r.text, r.confidence]
            continue
        place[1] = r.capture_time
        place[2] += 1
        if r.confidence > place[4]:
            place[3], place[4] = r.text, r.confidence
    made = sorted(
        (SightingPlace(d, s, *p) for (d, s), p in places.items()),
        key=lambda p: (p.first_seen, p.device_id, p.stream_id),
    )
    return Sighting(rows[0].normalized_text, rows[0].capture_time, rows[-1].capture_time, tuple(made))


def cluster(rows: Iterable[Row], window_s: float, min_streams: int) -> Iterator[Sighting]:
    """Sightings of ``rows`` (ordered by normalized_text, capture_time) with at least ``min_streams`` places, in
    the rows' text order."""
    run: list[Row] = []
    for row in rows:
        if run and (
            row.normalized_text != run[-1].normalized_text or row.capture_time - run[-1].capture_time > window_s
        ):
            sighting = _sighting(run)
            if len(sighting.places) >= min_streams:
                yield sighting
            run = []
        run.append(row)
    if run:
        sighting = _sighting(run)
        if len(sighting.places) >= min_streams:
            yield sighting
