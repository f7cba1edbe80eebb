"""Domain errors of the OCR runtime, each with a stable UPPER_SNAKE_CASE reason.

    OcrError
    ├── InvalidImageError        the caller's image cannot be used (reason says why)
    │   └── InvalidDocumentError the caller's PDF, TIFF or document image cannot be read, or is over a limit
    ├── ConfigurationError       a setting names something this host cannot do
    │   └── BackendUnavailableError
    ├── ModelError               a bundle is missing, corrupt or does not verify (models.errors)
    └── OverloadedError / NotReadyError (raised by serving layers)

``OcrError`` and ``ModelError`` are defined in ``models.errors`` (models/ imports nothing above it) and
re-exported here, so ``except OcrError`` also catches what models/ raises. Transports (gRPC, CLI) map these
to their own status codes in one place each; nothing here knows about them.
"""

from __future__ import annotations

from models.errors import ModelError, OcrError  # the ground floor defines the base and the model errors

__all__ = [
    "OcrError",
    "InvalidImageError",
    "InvalidDocumentError",
    "ConfigurationError",
    "BackendUnavailableError",
    "ModelError",
    "OverloadedError",
    "NotReadyError",
    "DeadlineExceededError",
]


class InvalidImageError(OcrError):
    """Input that is not a usable image: empty, corrupt, truncated, too small, too large."""

    reason = "IMAGE_UNDECODABLE"


class InvalidDocumentError(InvalidImageError):
    """A document (PDF, multi-page TIFF, image) that cannot be read as a whole, or a page of it that is refused.

    Reasons: DOCUMENT_EMPTY, DOCUMENT_TOO_LARGE (max_bytes), TOO_MANY_PAGES (max_frames, max_pages),
    PAGE_TOO_LARGE (max_pixels_per_page, max_image_pixels), PAGE_RANGE_INVALID, DOCUMENT_ENCRYPTED (no password
    given, or a security scheme PDFium cannot open), DOCUMENT_PASSWORD_WRONG, DOCUMENT_UNREADABLE (not a PDF, TIFF
    or image; corrupt beyond repair). A subclass of InvalidImageError: to a transport it is the caller's input.
    """

    reason = "DOCUMENT_UNREADABLE"


class ConfigurationError(OcrError):
    reason = "INVALID_CONFIGURATION"


class BackendUnavailableError(ConfigurationError):
    """The chosen backend or device is not installed or not present on this host."""

    reason = "BACKEND_UNAVAILABLE"


class OverloadedError(OcrError):
    reason = "OVERLOADED"


class NotReadyError(OcrError):
    reason = "MODEL_NOT_READY"


class DeadlineExceededError(OcrError):
    reason = "DEADLINE_EXCEEDED"
