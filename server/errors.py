"""The one place that maps errors to gRPC status codes, and the transport's own error types.

    OcrError (models.errors, re-exported by edge_runtime.errors)
    ├── InvalidImageError      -> INVALID_ARGUMENT   IMAGE_UNDECODABLE, IMAGE_CORRUPT, IMAGE_EMPTY,
    │                                                IMAGE_TOO_LARGE, IMAGE_TOO_SMALL, IMAGE_FORMAT_UNSUPPORTED,
    │                                                RAW_FORMAT_UNSUPPORTED, RAW_SIZE_MISMATCH
    ├── InvalidRequestError    -> INVALID_ARGUMENT   IMAGE_MISSING, REQUEST_MALFORMED, BATCH_TOO_LARGE,
    │                                                STREAM_CONFIG_MISSING, STREAM_CONFIG_REPEATED, FRAME_MISSING
    ├── OverloadedError        -> RESOURCE_EXHAUSTED OVERLOADED
    ├── NotReadyError          -> UNAVAILABLE        MODEL_NOT_READY, SHUTTING_DOWN
    ├── DeadlineExceededError  -> DEADLINE_EXCEEDED  DEADLINE_EXCEEDED
    ├── ConfigurationError     -> FAILED_PRECONDITION
    └── ModelError             -> UNAVAILABLE        BUNDLE_UNKNOWN, MODEL_NOT_INSTALLED, MODEL_CORRUPT, ...
    anything else              -> INTERNAL           INTERNAL (generic message, traceback in the log)

The reason travels in the trailing metadata key ``ocr-error-reason`` (ASCII, UPPER_SNAKE_CASE) of a failed call,
and in ``Error.reason`` of a failed batch item or stream frame. gRPC itself refuses a message over the size limit
(RESOURCE_EXHAUSTED) and a call past its deadline (DEADLINE_EXCEEDED) before any handler runs; those carry no
reason.
"""

from __future__ import annotations

import logging
import uuid

import grpc

from edge_runtime.errors import (ConfigurationError, DeadlineExceededError, InvalidImageError, ModelError,
                                 NotReadyError, OcrError, OverloadedError)

__all__ = ["REASON_KEY", "InvalidRequestError", "status_of", "abort_with", "trailing_reason"]

log = logging.getLogger(__name__)

REASON_KEY = "ocr-error-reason"


class InvalidRequestError(OcrError):
    """A request that is well-formed protobuf but breaks the contract (missing oneof, config not first, ...)."""

    reason = "REQUEST_INVALID"


# By reason first (a reason may outrank its class), then by class, most specific first.
_BY_REASON: dict[str, grpc.StatusCode] = {
    "SHUTTING_DOWN": grpc.StatusCode.UNAVAILABLE,
}
_BY_CLASS: tuple[tuple[type[OcrError], grpc.StatusCode], ...] = (
    (InvalidImageError, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (OverloadedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NotReadyError, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceededError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (ModelError, grpc.StatusCode.UNAVAILABLE),
    (ConfigurationError, grpc.StatusCode.FAILED_PRECONDITION),
)


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str, str]:
    """(status code, stable reason, message) for any exception; unknown ones are logged with a traceback."""
    if isinstance(exc, OcrError):
        code = _BY_REASON.get(exc.reason)
        if code is None:
            code = next((c for cls, c in _BY_CLASS if isinstance(exc, cls)), grpc.StatusCode.INTERNAL)
        return code, exc.reason, exc.message
    incident = uuid.uuid4().hex[:12]
    log.error("internal error (incident %s)", incident, exc_info=exc)
    return grpc.StatusCode.INTERNAL, "INTERNAL", f"internal error (incident {incident}; details in the server log)"


async def abort_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """End the call with the status, reason and message for ``exc`` (raises, as context.abort does)."""
    code, reason, message = status_of(exc)
    await context.abort(code, message, trailing_metadata=((REASON_KEY, reason),))


def trailing_reason(metadata) -> str | None:
    """The reason in a call's trailing metadata (client side helper)."""
    for key, value in metadata or ():
        if key == REASON_KEY:
            return value if isinstance(value, str) else value.decode()
    return None
