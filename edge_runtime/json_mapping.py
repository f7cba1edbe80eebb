"""The JSON every command line prints for a result: the proto3 JSON mapping of ocr.v1.RecognizeResponse.

``edge_runtime`` never imports generated proto code, so this builds the same dict that
``json_format.MessageToDict(server.convert.recognize_response(result), preserving_proto_field_name=True,
always_print_fields_with_no_presence=True)`` gives (tested): field names as in the .proto, zero and empty fields
printed, ``float`` fields (confidences, coordinates) as the shortest decimal that reads back as the same 32-bit
float, as protobuf does. ``ocr-client recognize --json`` and the Node client print this shape too.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from edge_runtime.types import OcrResult, Point

__all__ = ["recognize_response_dict", "float32"]


def float32(value: float) -> float | str:
    """A float stored in a proto ``float`` field, as protobuf's JSON mapping prints it."""
    f = struct.unpack("<f", struct.pack("<f", value))[0]
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    precision = 6  # protobuf's type_checkers.ToShortestFloat: from 6 significant digits up, until it reads back
    rounded = float(f"{f:.{precision}g}")
    while struct.unpack("<f", struct.pack("<f", rounded))[0] != f:
        precision += 1
        rounded = float(f"{f:.{precision}g}")
    return rounded


def _double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def _polygon(points: tuple[Point, ...]) -> list[dict[str, Any]]:
    return [{"x": float32(x), "y": float32(y)} for x, y in points]


def recognize_response_dict(result: OcrResult) -> dict[str, Any]:
    """An OcrResult as the proto3 JSON mapping of the RecognizeResponse the server would send for it."""
    ms = result.timings_ms
    p = result.provenance
    return {
        "lines": [{
            "text": line.text, "confidence": float32(line.confidence), "polygon": _polygon(line.polygon),
            "words": [{"text": w.text, "confidence": float32(w.confidence), "polygon": _polygon(w.polygon)}
                      for w in line.words],
            "angle": int(line.angle),
        } for line in result.lines],
        "text": result.text,
        "image_width": int(result.width),
        "image_height": int(result.height),
        "timings": {"decode_ms": _double(ms.get("decode", 0.0)), "queue_ms": _double(ms.get("queue", 0.0)),
                    "detection_ms": _double(ms.get("det", 0.0)), "classification_ms": _double(ms.get("cls", 0.0)),
                    "recognition_ms": _double(ms.get("rec", 0.0)), "total_ms": _double(ms.get("total", 0.0))},
        "provenance": {"bundle_id": p.bundle, "backend": p.backend, "device": p.device,
                       "stage_precision": dict(p.precision)},
    }
