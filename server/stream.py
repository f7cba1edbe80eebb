"""StreamRecognize: a camera feed in, one response per frame read out, with text tracks and their events.

The temporal work (flow control, change detection, tracks, fused readings, events) is
``edge_runtime.stream``; this module only turns messages into ``Frame``s and ``StreamSettings`` and results
back into messages. A bad frame is answered with ``error`` and the stream goes on; a broken contract
(config missing or repeated, a request with neither config nor frame) ends the call with INVALID_ARGUMENT.
After the last frame, one more response (same ``sequence`` as the last frame) carries DISAPPEARED for every
line still reported, so each APPEARED is matched; it is not sent when there is nothing to report.
"""

from __future__ import annotations

from typing import AsyncIterator, Callable, Iterable

import grpc

from edge_runtime.config import from_env
from edge_runtime.errors import ConfigurationError, OcrError
from edge_runtime.stream import EventType, Frame, FrameResult, RawImage, StreamSettings, arun_stream
from server import convert
from server.errors import InvalidRequestError, abort_with
from server.pb import ocr_pb2
from server.plane import OcrPlane, RawPixels

__all__ = ["stream_recognize", "settings_of"]

_EVENT = {t: ocr_pb2.TextEventType.Value(f"TEXT_EVENT_TYPE_{t.value}") for t in EventType}


def settings_of(config: ocr_pb2.StreamConfig, defaults: StreamSettings | None = None) -> StreamSettings:
    """A StreamConfig over the server's defaults (``OCR_STREAM_*`` variables); 0 / unset keeps the default."""
    base = defaults or from_env(StreamSettings, prefix="OCR_STREAM_")
    changes: dict[str, object] = {"skip_detection": config.options.skip_detection}
    flow = ocr_pb2.FlowControl.Name(config.flow_control).removeprefix("FLOW_CONTROL_")
    if flow != "UNSPECIFIED":
        changes["mode"] = flow
    numbers = {"queue_size": config.queue_size, "change_threshold": config.change_threshold,
               "stable_after": config.stable_after_frames, "disappear_after": config.disappear_after_frames}
    if config.reread_every_frames:  # "read a frame even when unchanged every N frames": detection and reading
        numbers["refresh_every"] = numbers["reread_every"] = config.reread_every_frames
    if config.box_change_threshold:
        numbers["match_iou"] = config.box_change_threshold
        numbers["strong_iou"] = max(base.strong_iou, config.box_change_threshold)
    bad = [name for name, value in numbers.items() if value < 0]
    if bad:
        raise InvalidRequestError(f"StreamConfig fields must not be negative: {', '.join(bad)}",
                                  "STREAM_CONFIG_INVALID")
    changes.update({name: value for name, value in numbers.items() if value})
    try:
        return base.replace(**changes)
    except ConfigurationError as exc:
        raise InvalidRequestError(exc.message, "STREAM_CONFIG_INVALID") from None


def _points(polygon: Iterable[tuple[float, float]]) -> list[ocr_pb2.Point]:
    return [ocr_pb2.Point(x=x, y=y) for x, y in polygon]


def _frame_of(message: ocr_pb2.Frame) -> Frame:
    capture = message.capture_time.ToNanoseconds() / 1e9 if message.HasField("capture_time") else 0.0
    try:
        source = convert.image_source(message.image, message.HasField("image"))
    except OcrError as exc:  # the frame's own problem: answered in its response
        return Frame(None, message.sequence, capture, error=exc)
    if isinstance(source, RawPixels):
        return Frame(RawImage(source.data, source.width, source.height, source.pixel_format), message.sequence,
                     capture)
    return Frame(source, message.sequence, capture)


def response_of(result: FrameResult) -> ocr_pb2.StreamRecognizeResponse:
    """One FrameResult as a StreamRecognizeResponse."""
    response = ocr_pb2.StreamRecognizeResponse(sequence=result.sequence, frames_dropped=result.frames_dropped)
    if result.capture_time:
        response.capture_time.FromNanoseconds(round(result.capture_time * 1e9))
    for line in result.lines:
        response.lines.append(ocr_pb2.TextLine(
            text=line.text, confidence=line.confidence, angle=line.angle, polygon=_points(line.polygon),
            words=[ocr_pb2.Word(text=w.text, confidence=w.confidence, polygon=_points(w.polygon))
                   for w in line.words]))
    for event in result.events:
        response.events.append(ocr_pb2.TextEvent(type=_EVENT[event.type], track_id=event.track_id, text=event.text,
                                                 confidence=event.confidence, polygon=_points(event.polygon)))
    if result.error is not None:
        cause = result.error.cause
        response.error.CopyFrom(convert.error_message(
            cause if cause is not None else OcrError(result.error.message, result.error.reason)))
    if not result.final:
        ms = result.timings_ms
        response.timings.CopyFrom(ocr_pb2.StageTimings(
            decode_ms=ms.get("decode", 0.0), queue_ms=result.queue_wait_ms, detection_ms=ms.get("det", 0.0),
            recognition_ms=ms.get("rec", 0.0), total_ms=result.queue_wait_ms + result.processing_ms))
    return response


async def stream_recognize(plane: OcrPlane, requests: AsyncIterator, context: grpc.aio.ServicerContext,
                           well_formed: Callable) -> AsyncIterator[ocr_pb2.StreamRecognizeResponse]:
    """The StreamRecognize handler: config first, then frames under the config's flow control."""
    try:
        async with plane.admitted() as engine:
            first = await anext(aiter(requests), None)
            if first is None:
                return
            first = well_formed(first)
            if first.WhichOneof("request") != "config":
                raise InvalidRequestError("the first StreamRecognizeRequest must carry `config`",
                                          "STREAM_CONFIG_MISSING")
            settings = settings_of(first.config)

            async def frames() -> AsyncIterator[Frame]:
                async for request in requests:
                    request = well_formed(request)
                    kind = request.WhichOneof("request")
                    if kind == "config":
                        raise InvalidRequestError("only the first StreamRecognizeRequest may carry `config`",
                                                  "STREAM_CONFIG_REPEATED")
                    if kind != "frame":
                        raise InvalidRequestError("request has neither config nor frame", "FRAME_MISSING")
                    yield _frame_of(request.frame)

            # Model runs share the plane's inference executor with the other calls.
            results = arun_stream(engine, frames(), settings, executor=plane._infer)
            try:
                async for result in results:
                    if result.final and not result.events:
                        continue
                    yield response_of(result)
            finally:
                await results.aclose()
    except Exception as exc:
        await abort_with(context, exc)
