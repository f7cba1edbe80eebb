"""Every threshold of a camera stream in one frozen dataclass, so a transport can fill it from its own config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edge_runtime.errors import ConfigurationError
from edge_runtime.stream.flow import FlowMode
from edge_runtime.stream.validators import check_names, compile_patterns

__all__ = ["StreamSettings"]


@dataclass(frozen=True)
class StreamSettings:
    """Flow control, change detection, tracking and event thresholds of one stream.

    Frame counts (``min_hits``, ``stable_after``, ``edge_hold``, ``refresh_every``) count frames the stream
    *consumed*: processed ones and ones skipped as unchanged, not ones flow control dropped. ``reread_every``
    counts processed frames (an unchanged frame would read the same); ``disappear_after`` counts consumed
    frames in which the line was missing (an unchanged frame repeats the last processed one's observation).
    Environment: ``from_env(StreamSettings, prefix="OCR_STREAM_")``.
    """

    # flow control
    mode: FlowMode = FlowMode.LATEST_ONLY
    queue_size: int = 8  # QUEUE: frames kept (oldest dropped); ALL: frames buffered before the producer waits

    skip_detection: bool = False  # each frame is one text line (a cropped display): no detection

    # change detection: gray thumbnail of the frame, aligned with the last processed frame (global shift,
    # gray-level curve), then compared cell by cell
    change_width: int = 320  # thumbnail width in pixels (height keeps the aspect ratio)
    change_cell: int = 4  # cell side in thumbnail pixels; a cell is changed when its mean |diff| passes
    change_threshold: float = 5.0  # ... this many gray levels (0-255). <= 0 processes every frame
    change_edge_tolerance: float = 0.1  # thumbnail pixels of leftover misalignment an edge may show unnoticed
    max_shift: float = 0.03  # largest camera motion followed between processed frames, share of the frame width
    cut_fraction: float = 0.5  # this share of cells changed at once is a scene cut, ...
    cut_exposure: float = 40.0  # ... and so is an exposure jump of this many gray levels (mean) at once,
    cut_gain: float = 2.0  # ... or a contrast gain beyond this factor (either way)
    rebase_exposure: float = 8.0  # an unchanged frame whose exposure drifted this far becomes the reference
    refresh_every: int = 0  # process a frame at least every N consumed frames even if unchanged; 0: never

    # where the detector runs: the changed regions (padded, grown over the tracks they touch) or the frame
    region_pad: int = 24  # frame pixels around a changed region
    region_max_fraction: float = 0.5  # crops covering more of the frame than this: detect the whole frame
    edge_strip: float = 0.02  # new view at an edge this wide (camera panned onto it; share of the width) is detected
    full_detect_every: int = 90  # whole-frame detection at least every N consumed frames; 0: only when needed

    # tracking
    match_iou: float = 0.3  # box overlap (IoU) needed to keep following a track
    strong_iou: float = 0.6  # overlap at which a track is kept even when its text changed (an UPDATED sign)
    text_similarity: float = 0.6  # 0-1 similarity of readings, needed below strong_iou or after a cut
    max_tracks: int = 256
    fragment_area: float = 0.8  # a detection inside a track's box and this much smaller is a part of it ...
    occlusion_hold: int = 15  # ... (covered in part): the track holds for this many processed frames

    # recognition reuse: a matched track is re-read only when one of these says so
    reread_every: int = 15  # processed frames since its last reading
    reread_move: float = 0.25  # box corners moved by this fraction of the line height
    reread_diff: float = 8.0  # mean |diff| of the line's small gray thumbnail since its last reading

    # fused reading and events
    vote_decay: float = 0.7  # weight of older readings per newer one (lower reacts faster to real changes)
    min_confidence: float = 0.5  # readings below this do not vote
    min_hits: int = 2  # frames a track must be seen before APPEARED
    disappear_after: int = 3  # consecutive frames without the line before DISAPPEARED
    stable_after: int = 5  # frames with the same text before STABLE
    edge_margin: int = 2  # a box this close to the frame edge may be clipped text ...
    edge_hold: int = 15  # ... and is reported only after this many frames (0: at once)

    # what is reported (validators.py): a track's fused reading is chosen among the readings that fully match
    # one of these patterns or pass one of these checks; a track without such a reading is not reported.
    # Both empty: every reading. From the environment: patterns one per line, checks comma-separated.
    text_patterns: tuple[str, ...] = ()
    text_checks: tuple[str, ...] = ()  # ISO6346 (container codes), IBAN

    # key fields each event carries (stream.fields): set names as RecognizeOptions.fields (receipt, invoice, or a
    # set of the deployment's fields file, checked when the session starts). From the environment: comma-separated.
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        patterns = self.text_patterns
        if isinstance(patterns, str):
            patterns = [p for p in patterns.splitlines() if p.strip()]
        checks = self.text_checks
        if isinstance(checks, str):
            checks = checks.split(",")
        compile_patterns(patterns)  # TEXT_PATTERN_INVALID
        object.__setattr__(self, "text_patterns", tuple(patterns))
        object.__setattr__(self, "text_checks", check_names(checks))  # TEXT_CHECK_UNKNOWN
        names = self.fields.split(",") if isinstance(self.fields, str) else self.fields
        object.__setattr__(self, "fields", tuple(dict.fromkeys(n.strip() for n in names if n.strip())))
        if self.cut_gain < 1.0:
            raise ConfigurationError("stream settings out of range: cut_gain < 1")
        object.__setattr__(self, "mode", _mode(self.mode))
        positive = (
            "queue_size",
            "change_width",
            "change_cell",
            "max_tracks",
            "reread_every",
            "min_hits",
            "disappear_after",
            "stable_after",
        )
        bad = [name for name in positive if getattr(self, name) < 1]
        fractions = (
            "cut_fraction",
            "match_iou",
            "strong_iou",
            "text_similarity",
            "vote_decay",
            "min_confidence",
            "max_shift",
            "region_max_fraction",
            "fragment_area",
            "edge_strip",
        )
        bad += [name for name in fractions if not 0.0 <= getattr(self, name) <= 1.0]
        bad += [
            name
            for name in (
                "refresh_every",
                "edge_margin",
                "edge_hold",
                "reread_move",
                "reread_diff",
                "change_edge_tolerance",
                "region_pad",
                "full_detect_every",
                "occlusion_hold",
                "cut_exposure",
                "rebase_exposure",
            )
            if getattr(self, name) < 0
        ]
        if self.strong_iou < self.match_iou:
            bad.append("strong_iou < match_iou")
        if bad:
            raise ConfigurationError(f"stream settings out of range: {', '.join(bad)}")

    def replace(self, **changes: Any) -> StreamSettings:
        return dataclasses.replace(self, **changes)


def _mode(value: FlowMode | str) -> FlowMode:
    try:
        return FlowMode(value.upper() if isinstance(value, str) else value)
    except ValueError:
        raise ConfigurationError(f"flow mode {value!r} is not one of LATEST_ONLY, QUEUE, ALL") from None
