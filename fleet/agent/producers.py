"""What fills the outbox: cameras run through ``edge_runtime.stream`` in this process, or a JSON-lines replay.

Each producer turns text events into ``fleet_types.Event`` (the client's wire type) and appends them to the
outbox, one commit per frame (or per replayed line); an event counts as produced once that commit returned.
Before that, ``Admission`` checks each event with the central's own rules (``fleet.central.validate_report``): an
event the central would refuse is never committed (logged and counted by reason), so no committed event can block
its stream. A producer never waits for the central: the outbox absorbs an outage (within its bounds) while the
cameras keep reading.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from clients.ocr_client.fleet_types import EVENT_TYPES, Event, EventField
from edge_runtime.stream.types import FrameResult, TrackEvent
from fleet.agent.config import CameraConfig, ReplayConfig
from fleet.agent.outbox import Outbox
from fleet.central import validate_report
from fleet.errors import FleetRequestError

__all__ = [
    "Provenance",
    "Admission",
    "event_of_track",
    "CameraProducer",
    "ReplayProducer",
    "replay_events",
    "replay_line",
]

log = logging.getLogger(__name__)


class Provenance:
    """The engine's bundle, backend and per-stage precision, stamped on each event."""

    def __init__(self, bundle: str = "", backend: str = "", precision: Mapping[str, str] | None = None) -> None:
        self.bundle, self.backend, self.precision = bundle, backend, dict(precision or {})

    @classmethod
    def of_engine(cls, engine: Any) -> Provenance:
        p = engine.provenance
        return cls(p.bundle, p.backend, dict(p.precision))


class Admission:
    """The central's contract checked on the box, before an event is committed: one the central would refuse
    (EVENT_INVALID: a confidence outside 0..1, an unknown type, a text too long, a NUL, ...) gets no sequence and
    never enters the outbox. Counted by reason (``ocr_agent_events_invalid_total``) and logged; shared by every
    producer of an agent (its counts are this process's)."""

    DEVICE = "agent"  # the device is the call's business, not the event's: any valid id checks the events

    def __init__(self) -> None:
        self.invalid: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, stream_id: str, events: list[Event], count: bool = True) -> list[Event]:
        """The events the central would accept, in order; with ``count`` the others are logged and counted."""
        good = []
        for event in events:
            try:
                validate_report(self.DEVICE, [replace(event, stream_id=stream_id, sequence=1)], (), None, 1)
            except FleetRequestError as exc:
                if count:
                    with self._lock:
                        self.invalid[exc.reason] = self.invalid.get(exc.reason, 0) + 1
                    log.error(
                        "event of stream %r not committed: the central would refuse it (%s: %s)",
                        stream_id[:128],
                        exc.reason,
                        exc.message,
                    )
            else:
                good.append(event)
        return good


def event_of_track(
    stream_id: str, event: TrackEvent, result: FrameResult, frame_size: tuple[int, int], provenance: Provenance
) -> Event:
    """A stream's TrackEvent as the fleet's Event (its sequence is assigned by the outbox)."""
    return Event(
        stream_id=stream_id,
        sequence=0,
        capture_time=result.capture_time or time.time(),
        type=event.type.value,
        track_id=event.track_id,
        text=event.text,
        confidence=float(event.confidence),
        polygon=tuple((float(x), float(y)) for x, y in event.polygon),
        frame_width=frame_size[0],
        frame_height=frame_size[1],
        bundle=provenance.bundle,
        backend=provenance.backend,
        precision=provenance.precision,
        previous_text=event.previous_text,
        frame_sequence=result.sequence,
        fields=tuple(EventField(f.name, f.value, f.text, float(f.confidence), f.field_set) for f in event.fields),
    )


class CameraProducer:
    """One camera: ``VideoSource`` -> ``run_stream`` on the shared engine (its FrameScheduler gives the cameras
    turns) -> outbox. ``run`` returns when the source ends or ``stop`` is set."""

    def __init__(
        self,
        camera: CameraConfig,
        engine: Any,
        outbox: Outbox,
        provenance: Provenance,
        scheduler: Any = None,
        source_factory: Callable[[CameraConfig], Any] | None = None,
        admission: Admission | None = None,
        field_sets: Mapping[str, Any] | None = None,
    ) -> None:
        """``field_sets``: the agent's fields file, which the camera's ``settings.fields`` may name."""
        self.camera, self.engine, self.outbox, self.provenance = camera, engine, outbox, provenance
        self.field_sets = dict(field_sets or {})
        self.scheduler = scheduler
        self.admission = admission or Admission()
        self.source_factory = source_factory or _video_source
        self.frames = 0
        self.events = 0

    def run(self, stop: threading.Event) -> None:
        from edge_runtime.stream.session import StreamSession, run_stream

        settings = self.camera.settings
        session = StreamSession(self.engine, settings, field_sets=self.field_sets)
        source = self.source_factory(self.camera)
        size_box: list[tuple[int, int]] = [(0, 0)]
        results = run_stream(self.engine, _sized(source, size_box), settings, session, scheduler=self.scheduler)
        try:
            for result in results:
                self.frames += not result.final
                if result.events:
                    events = self.admission.admit(
                        self.camera.stream_id,
                        [
                            event_of_track(self.camera.stream_id, e, result, size_box[0], self.provenance)
                            for e in result.events
                        ],
                    )
                    if events:
                        self.outbox.append(self.camera.stream_id, events)
                        self.events += len(events)
                if stop.is_set():
                    break
        finally:
            results.close()


def _sized(frames: Any, box: list[tuple[int, int]]) -> Iterator[Any]:
    """The frames, noting the size of the last one (events carry their frame's size)."""

    class Sized:
        def __iter__(self) -> Iterator[Any]:
            for frame in frames:
                shape = getattr(frame.image, "shape", None)
                if shape is not None:
                    box[0] = (int(shape[1]), int(shape[0]))
                yield frame

        def close(self) -> None:
            close = getattr(frames, "close", None)
            if callable(close):
                close()

    return Sized()  # type: ignore[return-value]


def _video_source(camera: CameraConfig) -> Any:
    from edge_runtime.stream.sources import VideoSource

    return VideoSource(camera.source, pace=camera.realtime, max_frames=camera.max_frames)


# ---- replay -------------------------------------------------------------------------------------------------
def replay_line(line: str, default_stream: str) -> Event | None:
    """One JSON line -> an Event, or None for a line that is no event (blank, a frame or an error line).

    Takes the fleet's own field names (``stream_id``, ``type``, ``text``, ...) and also the lines
    ``python -m edge_runtime stream`` prints (``event``, ``sequence`` as the frame number), so a recorded stream
    can be replayed as it was read."""
    line = line.strip()
    if not line:
        return None
    data = json.loads(line)
    kind = data.get("type", data.get("event"))
    if kind is None:
        return None
    if kind not in EVENT_TYPES:  # kept as is: the central refuses it, and the agent quarantines it
        log.warning("replay line with unknown event type %r", kind)
    polygon = tuple((float(x), float(y)) for x, y in data.get("polygon", ()))
    capture = data.get("capture_time")
    return Event(
        stream_id=data.get("stream_id") or default_stream,
        sequence=0,
        capture_time=float(capture) if capture else time.time(),
        type=str(kind),
        track_id=int(data.get("track_id", 0)),
        text=str(data.get("text", "")),
        confidence=float(data.get("confidence", 0.0)),
        polygon=polygon,
        frame_width=int(data.get("frame_width", 0)),
        frame_height=int(data.get("frame_height", 0)),
        bundle=str(data.get("bundle", "")),
        backend=str(data.get("backend", "")),
        precision=dict(data.get("precision", {})),
        previous_text=str(data.get("previous_text", "")),
        frame_sequence=int(data.get("frame_sequence", data.get("sequence", 0)) or 0),
        fields=tuple(
            EventField(
                str(f.get("name", "")),
                str(f.get("value", "")),
                str(f.get("text", "")),
                float(f.get("confidence", 0.0)),
                str(f.get("field_set", "")),
            )
            for f in data.get("fields", ())
        ),
    )


def replay_events(path: str | Path, default_stream: str) -> Iterator[Event]:
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                event = replay_line(line, default_stream)
            except (ValueError, TypeError) as exc:
                log.warning("%s:%d: not an event line (%s); skipped", path, number, exc)
                continue
            if event is not None:
                yield event


class ReplayProducer:
    """Events from a JSON-lines file into the outbox, one commit each, at ``rate`` events/s (0: at once).

    With ``resume`` a restarted agent skips, per stream, as many events as the outbox has already given a
    sequence to, so a replay interrupted by a crash goes on where its last commit ended (events refused under
    REJECT_NEW got no sequence and are read again; events the admission refuses got none either and are passed
    over without counting against the skip)."""

    def __init__(self, replay: ReplayConfig, outbox: Outbox, admission: Admission | None = None) -> None:
        self.replay, self.outbox = replay, outbox
        self.admission = admission or Admission()
        self.events = 0
        self.done = threading.Event()

    def run(self, stop: threading.Event) -> None:
        skip = dict(self.outbox.last_sequences()) if self.replay.resume else {}
        rate = self.replay.rate
        started, produced = time.monotonic(), 0
        try:
            for event in replay_events(self.replay.path, self.replay.stream_id):
                if stop.is_set():
                    return
                skipping = skip.get(event.stream_id, 0) > 0
                if not self.admission.admit(event.stream_id, [event], count=not skipping):
                    continue  # never committed, neither now nor before the restart
                if skipping:
                    skip[event.stream_id] -= 1
                    continue
                if rate > 0:  # paced: event n is due n/rate after the first
                    delay = started + produced / rate - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        return
                self.outbox.append(event.stream_id, [event])
                produced += 1
                self.events += 1
            log.info("replay %s done: %d events produced", self.replay.path, produced)
        finally:
            self.done.set()
