"""The server's conversions between ocr.v1 protobuf messages and domain types: requests in, answers out.

A result's RecognizeResponse (lines, words, timings, provenance) is built in ``edge_runtime.messages``, shared
with the in-process command line so both print the same JSON; it is re-exported here for the servicer.
"""

from __future__ import annotations

from collections.abc import Iterable

from clients.ocr_client.pb import ocr_pb2
from edge_runtime import stream, types
from edge_runtime.config import from_env
from edge_runtime.errors import ConfigurationError, InvalidImageError, OcrError
from edge_runtime.messages import (
    field_messages,
    line_message,
    points,
    provenance_message,
    recognize_response,
    timings_message,
)
from server.errors import InvalidRequestError, status_of
from server.model_status import ModelStatus
from server.plane import ImageSource

__all__ = [
    "image_source",
    "recognize_response",
    "error_message",
    "stream_settings",
    "stream_frame",
    "stream_response",
    "provenance_message",
    "stage_precisions",
    "model_status_message",
]

_PIXEL_PREFIX = "PIXEL_FORMAT_"


def image_source(image: ocr_pb2.Image, present: bool = True) -> ImageSource:
    """An ``Image`` message -> encoded bytes or RawImage; a missing or empty oneof is an invalid request."""
    which = image.WhichOneof("source") if present else None
    if which == "content":
        return image.content
    if which == "raw":
        raw = image.raw
        if raw.pixel_format == ocr_pb2.PIXEL_FORMAT_UNSPECIFIED:
            raise InvalidImageError("raw image has no pixel_format", "RAW_FORMAT_UNSUPPORTED")
        name = ocr_pb2.PixelFormat.Name(raw.pixel_format).removeprefix(_PIXEL_PREFIX)
        return types.RawImage(raw.data, raw.width, raw.height, name)
    raise InvalidRequestError("request has no image: set image.content or image.raw", "IMAGE_MISSING")


def pixel_formats(names: Iterable[str]) -> list[str]:
    """PixelFormat labels (a message takes an enum by label; an unknown one raises ValueError there)."""
    return [_PIXEL_PREFIX + name for name in names]


def model_status_message(status: ModelStatus) -> ocr_pb2.ModelStatus:
    """What serves and how it got there, and the background gate (``server.model_status``)."""
    o = status.optimize
    message = ocr_pb2.ModelStatus(
        generation=status.generation,
        last_change=status.last_change,
        last_error_reason=status.last_error_reason,
        swaps=status.changes.get("swapped", 0),
        refused=status.changes.get("refused", 0),
        optimize=ocr_pb2.OptimizeStatus(
            state=o.state, backend=o.backend, progress=o.progress, phase=o.phase, eta_seconds=o.eta_s, detail=o.detail
        ),
    )
    if status.serving_since is not None:
        message.serving_since.FromDatetime(status.serving_since)
    return message


def stage_precisions(precision: dict[str, str], reasons: dict[str, str]) -> list[ocr_pb2.StagePrecision]:
    """Precision per stage (pipeline order) with the engine's reason for it."""
    return [
        ocr_pb2.StagePrecision(stage=stage, precision=used, reason=reasons.get(stage, ""))
        for stage, used in precision.items()
    ]


def error_message(exc: BaseException) -> ocr_pb2.Error:
    """A per-item error (batch item, stream frame) from the same table as call errors."""
    code, reason, message = status_of(exc)
    return ocr_pb2.Error(code=code.value[0], reason=reason, message=message)


# ---- StreamRecognize ------------------------------------------------------------------------------------
_CHECK_PREFIX = "TEXT_CHECK_"


def stream_settings(
    config: ocr_pb2.StreamConfig, defaults: stream.StreamSettings | None = None
) -> stream.StreamSettings:
    """A StreamConfig over the server's defaults (``OCR_STREAM_*`` variables); 0 / unset keeps the default.

    A bad value is INVALID_ARGUMENT: ``TEXT_PATTERN_INVALID`` for a pattern, ``TEXT_CHECK_UNKNOWN`` for a check
    number this server does not know, ``STREAM_CONFIG_INVALID`` for anything else.
    """
    base = defaults or from_env(stream.StreamSettings, prefix="OCR_STREAM_")
    changes: dict[str, object] = {"skip_detection": config.options.skip_detection}
    flow = ocr_pb2.FlowControl.Name(config.flow_control).removeprefix("FLOW_CONTROL_")
    if flow != "UNSPECIFIED":
        changes["mode"] = flow
    numbers = {
        "queue_size": config.queue_size,
        "change_threshold": config.change_threshold,
        "stable_after": config.stable_after_frames,
        "disappear_after": config.disappear_after_frames,
    }
    if config.reread_every_frames:  # "read a frame even when unchanged every N frames": detection and reading
        numbers["refresh_every"] = numbers["reread_every"] = config.reread_every_frames
    if config.box_change_threshold:
        numbers["match_iou"] = config.box_change_threshold
        numbers["strong_iou"] = max(base.strong_iou, config.box_change_threshold)
    bad = [name for name, value in numbers.items() if value < 0]
    if bad:
        raise InvalidRequestError(
            f"StreamConfig fields must not be negative: {', '.join(bad)}", "STREAM_CONFIG_INVALID"
        )
    changes.update({name: value for name, value in numbers.items() if value})
    if config.options.fields:  # else the server's default sets (OCR_STREAM_FIELDS); checked when the session starts
        changes["fields"] = tuple(config.options.fields)
    if config.text_patterns or config.text_checks:  # else the server's defaults (OCR_STREAM_TEXT_*)
        known = set(ocr_pb2.TextCheck.values())
        unknown = [str(c) for c in config.text_checks if c not in known]
        if unknown:
            raise InvalidRequestError(f"text_checks: unknown value(s) {', '.join(unknown)}", "TEXT_CHECK_UNKNOWN")
        changes["text_patterns"] = tuple(config.text_patterns)
        changes["text_checks"] = tuple(
            ocr_pb2.TextCheck.Name(c).removeprefix(_CHECK_PREFIX)
            for c in config.text_checks
            if c != ocr_pb2.TEXT_CHECK_UNSPECIFIED
        )
    try:
        return base.replace(**changes)
    except ConfigurationError as exc:
        reason = exc.reason if exc.reason in ("TEXT_PATTERN_INVALID", "TEXT_CHECK_UNKNOWN") else "STREAM_CONFIG_INVALID"
        raise InvalidRequestError(exc.message, reason) from None


def stream_frame(message: ocr_pb2.Frame) -> stream.Frame:
    """A ``Frame`` message; an image problem rides along as the frame's ``error`` (answered in its response)."""
    capture = message.capture_time.ToNanoseconds() / 1e9 if message.HasField("capture_time") else 0.0
    try:
        source = image_source(message.image, message.HasField("image"))
    except OcrError as exc:
        return stream.Frame(None, message.sequence, capture, error=exc)
    return stream.Frame(source, message.sequence, capture)


def stream_response(result: stream.FrameResult) -> ocr_pb2.StreamRecognizeResponse:
    """One FrameResult as a StreamRecognizeResponse."""
    response = ocr_pb2.StreamRecognizeResponse(
        sequence=result.sequence,
        frames_dropped=result.frames_dropped,
        final=result.final,
        detected_area=result.detected_area,
        frames_ahead=result.frames_ahead,
    )
    if result.capture_time:
        response.capture_time.FromNanoseconds(round(result.capture_time * 1e9))
    response.lines.extend(line_message(line, line.track_id) for line in result.lines)
    for event in result.events:
        response.events.append(
            ocr_pb2.TextEvent(
                type=f"TEXT_EVENT_TYPE_{event.type.value}",
                track_id=event.track_id,
                text=event.text,
                confidence=event.confidence,
                polygon=points(event.polygon),
                candidates=[
                    ocr_pb2.TextCandidate(text=c.text, score=c.score, frames=c.frames, accepted=c.accepted)
                    for c in event.candidates
                ],
                fields=field_messages(event.fields),
            )
        )
    if result.error is not None:
        cause = result.error.cause
        response.error.CopyFrom(
            error_message(cause if cause is not None else OcrError(result.error.message, result.error.reason))
        )
    if not result.final:
        response.timings.CopyFrom(
            timings_message(
                {
                    **result.timings_ms,
                    "queue": result.queue_wait_ms,
                    "total": result.queue_wait_ms + result.processing_ms,
                }
            )
        )
    return response
