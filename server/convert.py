"""The one module that converts between ocr.v1 protobuf messages and domain types."""

from __future__ import annotations

from typing import Iterable

from edge_runtime import types
from edge_runtime.errors import InvalidImageError
from server.errors import InvalidRequestError, status_of
from clients.ocr_client.pb import ocr_pb2
from server.plane import ImageSource, RawPixels

__all__ = ["image_source", "recognize_response", "error_message", "stream_response", "provenance_message",
           "stage_precisions"]

_PIXEL_PREFIX = "PIXEL_FORMAT_"


def image_source(image: ocr_pb2.Image, present: bool = True) -> ImageSource:
    """An ``Image`` message -> encoded bytes or RawPixels; a missing or empty oneof is an invalid request."""
    which = image.WhichOneof("source") if present else None
    if which == "content":
        return image.content
    if which == "raw":
        raw = image.raw
        if raw.pixel_format == ocr_pb2.PIXEL_FORMAT_UNSPECIFIED:
            raise InvalidImageError("raw image has no pixel_format", "RAW_FORMAT_UNSUPPORTED")
        name = ocr_pb2.PixelFormat.Name(raw.pixel_format).removeprefix(_PIXEL_PREFIX)
        return RawPixels(raw.width, raw.height, name, raw.data)
    raise InvalidRequestError("request has no image: set image.content or image.raw", "IMAGE_MISSING")


def pixel_formats(names: Iterable[str]) -> list[int]:
    return [ocr_pb2.PixelFormat.Value(_PIXEL_PREFIX + name) for name in names]


def _points(polygon: Iterable[types.Point]) -> list[ocr_pb2.Point]:
    return [ocr_pb2.Point(x=x, y=y) for x, y in polygon]


def lines_of(result: types.OcrResult) -> list[ocr_pb2.TextLine]:
    return [
        ocr_pb2.TextLine(
            text=line.text, confidence=line.confidence, polygon=_points(line.polygon), angle=line.angle,
            words=[ocr_pb2.Word(text=w.text, confidence=w.confidence, polygon=_points(w.polygon)) for w in line.words],
        )
        for line in result.lines
    ]


def timings_of(ms: dict[str, float]) -> ocr_pb2.StageTimings:
    return ocr_pb2.StageTimings(
        decode_ms=ms.get("decode", 0.0), queue_ms=ms.get("queue", 0.0), detection_ms=ms.get("det", 0.0),
        classification_ms=ms.get("cls", 0.0), recognition_ms=ms.get("rec", 0.0), total_ms=ms.get("total", 0.0),
    )


def provenance_message(p: types.Provenance) -> ocr_pb2.Provenance:
    return ocr_pb2.Provenance(bundle_id=p.bundle, backend=p.backend, device=p.device, stage_precision=p.precision)


def stage_precisions(precision: dict[str, str], reasons: dict[str, str]) -> list[ocr_pb2.StagePrecision]:
    """Precision per stage (pipeline order) with the engine's reason for it."""
    return [ocr_pb2.StagePrecision(stage=stage, precision=used, reason=reasons.get(stage, ""))
            for stage, used in precision.items()]


def recognize_response(result: types.OcrResult) -> ocr_pb2.RecognizeResponse:
    return ocr_pb2.RecognizeResponse(
        lines=lines_of(result), text=result.text, image_width=result.width, image_height=result.height,
        timings=timings_of(result.timings_ms), provenance=provenance_message(result.provenance),
    )


def error_message(exc: BaseException) -> ocr_pb2.Error:
    """A per-item error (batch item, stream frame) from the same table as call errors."""
    code, reason, message = status_of(exc)
    return ocr_pb2.Error(code=code.value[0], reason=reason, message=message)


def stream_response(sequence: int, capture_time, result: types.OcrResult | None = None,
                    error: BaseException | None = None, frames_dropped: int = 0) -> ocr_pb2.StreamRecognizeResponse:
    response = ocr_pb2.StreamRecognizeResponse(sequence=sequence, frames_dropped=frames_dropped)
    if capture_time is not None:
        response.capture_time.CopyFrom(capture_time)
    if result is not None:
        response.lines.extend(lines_of(result))
        response.timings.CopyFrom(timings_of(result.timings_ms))
    if error is not None:
        response.error.CopyFrom(error_message(error))
    return response
