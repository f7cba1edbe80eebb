"""StreamRecognize: a camera feed in, one response per frame out.

For now every frame is read, in order, with no tracking: ``events`` stay empty and ``frames_dropped`` is 0.
The StreamConfig fields for flow control and tracking are accepted and kept in ``StreamSettings`` for the
camera work that implements them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Callable

import grpc

from edge_runtime.errors import DeadlineExceededError, OcrError
from server import convert
from server.errors import InvalidRequestError, abort_with
from server.pb import ocr_pb2
from server.plane import OcrPlane

__all__ = ["stream_recognize", "StreamSettings"]


@dataclass(frozen=True)
class StreamSettings:
    """A stream's config as domain values (0 in the message: the server default, resolved later)."""

    skip_detection: bool
    flow_control: str  # LATEST_ONLY | QUEUE | ALL
    queue_size: int
    change_threshold: float
    reread_every_frames: int
    box_change_threshold: float
    stable_after_frames: int
    disappear_after_frames: int

    @classmethod
    def from_message(cls, config: ocr_pb2.StreamConfig) -> "StreamSettings":
        flow = ocr_pb2.FlowControl.Name(config.flow_control).removeprefix("FLOW_CONTROL_")
        return cls(config.options.skip_detection, "LATEST_ONLY" if flow == "UNSPECIFIED" else flow,
                   config.queue_size, config.change_threshold, config.reread_every_frames,
                   config.box_change_threshold, config.stable_after_frames, config.disappear_after_frames)


async def stream_recognize(plane: OcrPlane, requests: AsyncIterator, context: grpc.aio.ServicerContext,
                           well_formed: Callable) -> AsyncIterator[ocr_pb2.StreamRecognizeResponse]:
    """Answer each frame in order; a bad frame gets a response with ``error`` and the stream goes on."""
    from server.service import deadline_of

    try:
        async with plane.admitted():
            settings: StreamSettings | None = None
            async for request in requests:
                request = well_formed(request)
                kind = request.WhichOneof("request")
                if settings is None:
                    if kind != "config":
                        raise InvalidRequestError("the first StreamRecognizeRequest must carry `config`",
                                                  "STREAM_CONFIG_MISSING")
                    settings = StreamSettings.from_message(request.config)
                    continue
                if kind != "frame":
                    raise InvalidRequestError("only the first StreamRecognizeRequest may carry `config`"
                                              if kind == "config" else "request has neither config nor frame",
                                              "STREAM_CONFIG_REPEATED" if kind == "config" else "FRAME_MISSING")
                frame = request.frame
                capture = frame.capture_time if frame.HasField("capture_time") else None
                try:
                    source = convert.image_source(frame.image, frame.HasField("image"))
                    result = await plane.recognize(source, settings.skip_detection, deadline_of(context))
                except DeadlineExceededError:
                    raise
                except OcrError as exc:
                    yield convert.stream_response(frame.sequence, capture, error=exc)
                    continue
                yield convert.stream_response(frame.sequence, capture, result)
    except Exception as exc:
        await abort_with(context, exc)
