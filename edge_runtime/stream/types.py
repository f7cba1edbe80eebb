"""Frames in, per-frame results and track events out: plain dataclasses, free of any transport."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_runtime.types import Point, RawImage, Word

if TYPE_CHECKING:
    from edge_runtime.fields import Field

__all__ = ["Frame", "EventType", "TextCandidate", "TrackEvent", "TrackedLine", "FrameError", "FrameResult"]


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera frame: BGR array, encoded bytes (JPEG, PNG...) or a raw buffer.

    ``error`` marks a frame the transport could not turn into an image (say, a message without one): it goes
    through flow control like any frame and is answered with that error.
    """

    image: np.ndarray | bytes | RawImage | None  # RawImage: see edge_runtime.types
    sequence: int  # producer's frame number; gaps are allowed
    capture_time: float  # seconds since the epoch, when the camera took it; 0: unknown
    error: Exception | None = None


class EventType(enum.StrEnum):
    APPEARED = "APPEARED"  # a new text is in view (reported once it was seen min_hits frames)
    UPDATED = "UPDATED"  # the same line now reads differently (a price changed)
    STABLE = "STABLE"  # the line's text has not changed for stable_after frames
    DISAPPEARED = "DISAPPEARED"  # the line left, was covered, or the scene cut away


@dataclass(frozen=True)
class TextCandidate:
    """One distinct reading of a track, and how much the frames voted for it: why the event's text won."""

    text: str
    score: float  # share of the track's confidence-weighted, age-decayed vote (the candidates sum to 1)
    frames: int  # frames that voted for it
    accepted: bool = True  # passes the stream's text patterns / checks (always, when it has none)


@dataclass(frozen=True)
class TrackEvent:
    type: EventType
    track_id: int
    text: str  # the fused reading at the time of the event
    confidence: float  # share-weighted confidence of that reading
    polygon: tuple[Point, ...]  # last known position
    sequence: int  # frame that caused the event
    previous_text: str = ""  # UPDATED: what the line read before
    candidates: tuple[TextCandidate, ...] = ()  # the track's readings, highest score first (at most 5)
    fields: tuple[Field, ...] = ()  # key fields of ``text`` by the stream's field sets (stream.fields)


@dataclass(frozen=True)
class TrackedLine:
    """A line in this frame, with its track's fused text (``reported``: its APPEARED event has been sent)."""

    track_id: int
    text: str  # fused over frames, not necessarily this frame's reading
    confidence: float
    polygon: tuple[Point, ...]
    angle: int = 0
    read: bool = False  # recognition ran on this line in this frame (else the reading was reused)
    reported: bool = False
    stable: bool = False
    words: tuple[Word, ...] = ()  # of the last reading, placed on this frame's box (empty if it is not `text`)


@dataclass(frozen=True)
class FrameError:
    reason: str  # stable UPPER_SNAKE_CASE, e.g. IMAGE_CORRUPT
    message: str
    cause: BaseException | None = field(default=None, compare=False, repr=False)  # for a transport's error table


@dataclass(frozen=True)
class FrameResult:
    """What one consumed frame produced. ``error`` set means this frame failed; the stream goes on."""

    sequence: int
    capture_time: float
    lines: tuple[TrackedLine, ...] = ()
    events: tuple[TrackEvent, ...] = ()
    frames_dropped: int = 0  # by flow control so far in this stream
    dropped_since_last: int = 0  # by flow control between the previous result and this one
    queue_wait_ms: float = 0.0  # from arrival to start: flow control, then the scheduler's turn
    processing_ms: float = 0.0
    frames_ahead: int = 0  # frames of other streams the scheduler started while this one waited for its turn
    skipped: bool = False  # unchanged since the last processed frame: no model ran
    lines_read: int = 0  # lines that went through recognition in this frame
    detected_area: float = 0.0  # share of the frame the detector ran on (1: all of it, 0: not at all)
    shift: tuple[float, float] = (0.0, 0.0)  # camera motion against the last processed frame, pixels
    timings_ms: dict[str, float] = field(default_factory=dict)  # decode, change, det, rec (cls + rec)
    error: FrameError | None = None
    final: bool = False  # the end-of-stream flush (DISAPPEARED for every reported line)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, error=None))
        out["error"] = {"reason": self.error.reason, "message": self.error.message} if self.error else None
        return out
