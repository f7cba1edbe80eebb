"""Camera streams: flow control, change detection, text tracks and events on top of the OCR engine.

Transport-free: the gRPC server and the in-process CLI both drive ``StreamSession`` through ``run_stream``
(threads) or ``arun_stream`` (asyncio). Streams that share one engine share a ``FrameScheduler``
(scheduler.py): one frame of work per stream in turn, so a flooding camera cannot starve the others, and a
frame whose turn comes after the call's deadline is not computed. Per consumed frame:

    flow control (flow.py)      LATEST_ONLY / QUEUE / ALL; counts drops, measures queue wait
    change detection (change)   thumbnail aligned with the last processed frame (sub-pixel global shift,
                                exposure fit), compared cell by cell; unchanged -> no model runs at all
    detection (regions.py)      only on the changed regions (padded, grown over the tracks they touch), the
                                whole frame on a cut, when the crops would cover most of it, or every N frames
    tracking (tracking.py)      boxes carried along the camera's motion; detections matched to tracks by box
                                overlap, confirmed by text similarity; recognition only where a box moved,
                                its content changed, or every K frames
    fused reading + events      confidence-weighted vote over frames; APPEARED once a line was seen
                                ``min_hits`` frames, UPDATED when its fused text changes, STABLE after
                                ``stable_after`` frames of the same text, DISAPPEARED when gone (or at a cut,
                                or at the end of the stream), so a client hears of each distinct text once.
                                With text patterns / checks (validators.py: ISO 6346, IBAN) only readings
                                that pass can lead; each event lists the candidate readings and their votes.

Every threshold is a field of ``StreamSettings``.
"""

from edge_runtime.stream.flow import Delivery, FlowCancelled, FlowClosed, FlowMode, FlowQueue
from edge_runtime.stream.scheduler import FrameScheduler, Job, SchedulerStats
from edge_runtime.stream.session import StreamResults, StreamSession, arun_stream, run_stream
from edge_runtime.stream.settings import StreamSettings
from edge_runtime.stream.types import (
    EventType,
    Frame,
    FrameError,
    FrameResult,
    TextCandidate,
    TrackedLine,
    TrackEvent,
)
from edge_runtime.stream.validators import TextFilter, iban_ok, iso6346_ok

__all__ = [
    "Delivery",
    "FlowCancelled",
    "FlowClosed",
    "FlowMode",
    "FlowQueue",
    "FrameScheduler",
    "Job",
    "SchedulerStats",
    "StreamResults",
    "StreamSession",
    "arun_stream",
    "run_stream",
    "StreamSettings",
    "EventType",
    "Frame",
    "FrameError",
    "FrameResult",
    "TextCandidate",
    "TrackedLine",
    "TrackEvent",
    "TextFilter",
    "iban_ok",
    "iso6346_ok",
]
