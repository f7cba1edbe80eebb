"""Domain errors of the OCR runtime, each with a stable UPPER_SNAKE_CASE reason.

    OcrError
    ├── InvalidImageError        the caller's image cannot be used (reason says why)
    ├── ConfigurationError       a setting names something this host cannot do
    │   └── BackendUnavailableError
    ├── ModelError               a bundle is missing, corrupt or does not verify
    └── OverloadedError / NotReadyError (raised by serving layers)

Transports (gRPC, CLI) map these to their own status codes in one place each;
nothing here knows about them.
"""

from __future__ import annotations

__all__ = [
    "OcrError",
    "InvalidImageError",
    "ConfigurationError",
    "BackendUnavailableError",
    "ModelError",
    "OverloadedError",
    "NotReadyError",
    "DeadlineExceededError",
]


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


class InvalidImageError(OcrError):
    """Input that is not a usable image: empty, corrupt, truncated, too small, too large."""

    reason = "IMAGE_UNDECODABLE"


class ConfigurationError(OcrError):
    reason = "INVALID_CONFIGURATION"


class BackendUnavailableError(ConfigurationError):
    """The chosen backend or device is not installed or not present on this host."""

    reason = "BACKEND_UNAVAILABLE"


class ModelError(OcrError):
    reason = "MODEL_UNAVAILABLE"


class OverloadedError(OcrError):
    reason = "OVERLOADED"


class NotReadyError(OcrError):
    reason = "MODEL_NOT_READY"


class DeadlineExceededError(OcrError):
    reason = "DEADLINE_EXCEEDED"
