"""The one stage table: each timed stage of a call, in the order a call passes through them, and the
ocr.v1 ``StageTimings`` field its milliseconds go to. Responses, metrics, traces and the command line's JSON all
read it, so a stage is named in one place."""

from __future__ import annotations

__all__ = ["STAGE_FIELDS", "TIMING_FIELDS"]

STAGE_FIELDS: dict[str, str] = {
    "queue": "queue_ms",
    "decode": "decode_ms",
    "det": "detection_ms",
    "cls": "classification_ms",
    "rec": "recognition_ms",
}
"""Stage (a key of ``OcrResult.timings_ms``) -> StageTimings field, in call order."""

TIMING_FIELDS: dict[str, str] = {**STAGE_FIELDS, "total": "total_ms"}
"""Every key of ``OcrResult.timings_ms`` -> StageTimings field: the stages and the whole call."""
