"""Camera streams: flow control, change detection, text tracks and events on top of the OCR engine.

Transport-free: the gRPC server and the in-process CLI both drive ``StreamSession`` through
``run_stream`` (threads) or ``arun_stream`` (asyncio).
"""

from edge_runtime.stream.flow import Delivery, FlowCancelled, FlowClosed, FlowMode, FlowQueue
from edge_runtime.stream.session import StreamSession, arun_stream, run_stream
from edge_runtime.stream.settings import StreamSettings
from edge_runtime.stream.types import (EventType, Frame, FrameError, FrameResult, RawImage, TrackedLine,
                                       TrackEvent)

__all__ = [
    "Delivery", "FlowCancelled", "FlowClosed", "FlowMode", "FlowQueue", "StreamSession", "arun_stream",
    "run_stream", "StreamSettings", "EventType", "Frame", "FrameError", "FrameResult", "RawImage",
    "TrackedLine", "TrackEvent",
]
