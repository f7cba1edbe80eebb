"""Errors of the model layer, with stable UPPER_SNAKE_CASE reasons; models/ imports nothing above it.

    OcrError            base of every edge-ocr error: ``reason`` (stable) and ``message`` (wording may change)
    └── ModelError      a bundle is unknown, missing, corrupt or does not verify
                        (BUNDLE_UNKNOWN, MODEL_NOT_INSTALLED, MODEL_CORRUPT, MODEL_HASH_MISMATCH,
                        MODEL_DOWNLOAD_FAILED, MODEL_UNAVAILABLE)

`python -m models` adds MODEL_DIR_UNUSABLE (the cache cannot be written), USAGE_INVALID and INTERNAL.

The base lives here, on the ground floor, so that a ModelError is an OcrError without models/ importing the
runtime; ``edge_runtime.errors`` re-exports both, and transports map them to their status codes from there.
"""

from __future__ import annotations

__all__ = ["OcrError", "ModelError"]


class OcrError(Exception):
    """Base class: carries a stable machine-readable ``reason`` and a human message."""

    reason: str = "OCR_ERROR"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.reason


class ModelError(OcrError):
    """A model bundle that cannot be used: unknown id, not installed, corrupt, or failing its sha256."""

    reason = "MODEL_UNAVAILABLE"
