"""StreamRecognize: a camera feed in, one response per frame read out, with text tracks and their events.

The temporal work (flow control, change detection, tracks, fused readings, events, turns between streams) is
``edge_runtime.stream``; messages become ``Frame``s and ``StreamSettings`` and results become messages in
``server.convert``. A bad frame is answered with ``error`` and the stream goes on; a broken contract (config
missing or repeated, a request with neither config nor frame, an invalid text pattern) ends the call with
INVALID_ARGUMENT. After the last frame, one more response (``final``, same ``sequence`` as the last frame)
carries DISAPPEARED for every line still reported, so each APPEARED is matched; it is not sent when there is
nothing to report.

Scheduling and admission (``server.plane``): an open stream holds no admission slot; each frame takes one
while its models run, in its stream's turn (one frame per stream, round-robin). A frame refused a slot (every
slot taken by other calls) is answered with RESOURCE_EXHAUSTED ``OVERLOADED``, one whose memory (its stream's
largest frame, ``OcrPlane.cost_of``) does not fit the budget now with ``MEMORY_BUSY``, and the stream goes on. When a
frame's turn comes at or after the call's deadline it is not computed and the call ends with
DEADLINE_EXCEEDED (frames still waiting are discarded, no final response).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager

import grpc

from clients.ocr_client.pb import ocr_pb2
from edge_runtime.errors import DeadlineExceededError
from edge_runtime.stream import Frame, StreamSession, StreamSettings, arun_stream
from server import convert
from server.errors import InvalidRequestError
from server.plane import OcrPlane

__all__ = ["stream_recognize", "settings_of"]


def settings_of(config: ocr_pb2.StreamConfig, defaults: StreamSettings | None = None) -> StreamSettings:
    """A StreamConfig over the server's defaults (see ``convert.stream_settings``)."""
    return convert.stream_settings(config, defaults)


async def stream_recognize(
    plane: OcrPlane, requests: AsyncIterator, context: grpc.aio.ServicerContext
) -> AsyncIterator[ocr_pb2.StreamRecognizeResponse]:
    """The StreamRecognize handler: config first, then frames under the config's flow control. A broken contract
    is raised (the interceptor layer ends the call with its status and reason)."""
    try:
        async with plane.stream_opened() as engine:
            first = await anext(aiter(requests), None)
            if first is None:
                return
            if first.WhichOneof("request") != "config":
                raise InvalidRequestError(
                    "the first StreamRecognizeRequest must carry `config`", "STREAM_CONFIG_MISSING"
                )
            settings = settings_of(first.config)
            remaining = context.time_remaining()
            deadline = None if remaining is None else time.monotonic() + remaining

            async def frames() -> AsyncIterator[Frame]:
                async for request in requests:
                    kind = request.WhichOneof("request")
                    if kind == "config":
                        raise InvalidRequestError(
                            "only the first StreamRecognizeRequest may carry `config`", "STREAM_CONFIG_REPEATED"
                        )
                    if kind != "frame":
                        raise InvalidRequestError("request has neither config nor frame", "FRAME_MISSING")
                    frame = convert.stream_frame(request.frame)
                    if frame.image is not None:
                        largest[0] = max(largest[0], plane.cost_of(frame.image))
                    yield frame

            # Frames take turns with the other streams' in the plane's scheduler, on its inference executor; each
            # frame runs on the models serving when its turn comes (a swap needs no new stream).
            session = StreamSession(engine, settings, follow=plane.current_engine, field_sets=plane.config.field_sets)
            largest = [0]  # the memory a frame of this stream is charged: its largest frame's so far

            def guard() -> AbstractContextManager[None]:
                return plane.frame_slot(largest[0])

            results = arun_stream(
                engine,
                frames(),
                settings,
                session=session,
                scheduler=plane.streams,
                deadline=deadline,
                guard=guard,
            )
            try:
                async for result in results:
                    if result.final and not result.events:
                        continue
                    yield convert.stream_response(result)
            finally:
                await results.aclose()
    except DeadlineExceededError:
        plane.stats.expired += 1
        raise
