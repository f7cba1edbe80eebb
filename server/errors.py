"""The one place that maps errors to gRPC status codes, and the transport's own error types.

    OcrError (models.errors, re-exported by edge_runtime.errors)
    ├── InvalidImageError      -> INVALID_ARGUMENT   IMAGE_UNDECODABLE, IMAGE_CORRUPT, IMAGE_EMPTY,
    │                                                IMAGE_TOO_LARGE, IMAGE_TOO_SMALL, IMAGE_FORMAT_UNSUPPORTED,
    │                                                RAW_FORMAT_UNSUPPORTED, RAW_SIZE_MISMATCH
    ├── InvalidRequestError    -> INVALID_ARGUMENT   IMAGE_MISSING, REQUEST_MALFORMED, BATCH_TOO_LARGE,
    │                                                STREAM_CONFIG_MISSING, STREAM_CONFIG_REPEATED, FRAME_MISSING
    ├── OverloadedError        -> RESOURCE_EXHAUSTED OVERLOADED
    │   ├── MemoryBudgetError  -> RESOURCE_EXHAUSTED MEMORY_BUDGET_EXCEEDED (one item over the whole budget),
    │   │   (server.memory_budget)                   DEADLINE_BEFORE_ADMISSION (waiting for memory would pass the
    │   │                                            deadline), MEMORY_BUSY (a stream frame: no memory free now)
    │   └── RateLimitedError   -> RESOURCE_EXHAUSTED RATE_LIMITED, PIXEL_RATE_LIMITED, TOO_MANY_STREAMS
    │                                                (+ trailing ``retry-after``: seconds, an integer)
    ├── MessageTooLargeError   -> RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE
    ├── UnauthenticatedError   -> UNAUTHENTICATED    TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED,
    │                                                CERT_UNKNOWN
    ├── PermissionDeniedError  -> PERMISSION_DENIED  SCOPE_MISSING, METHOD_NOT_ALLOWED, PRINCIPAL_MISMATCH
    ├── NotReadyError          -> UNAVAILABLE        MODEL_NOT_READY, SHUTTING_DOWN
    ├── DeadlineExceededError  -> DEADLINE_EXCEEDED  DEADLINE_EXCEEDED
    ├── ConfigurationError     -> FAILED_PRECONDITION
    ├── FleetRequestError      -> INVALID_ARGUMENT   EVENT_INVALID, GAP_INVALID, STATUS_INVALID, REPORT_TOO_LARGE,
    │   (fleet.errors)                               DEVICE_ID_MISSING, DEVICE_ID_INVALID, PAGE_TOKEN_INVALID,
    │                                                PAGE_SIZE_INVALID, FILTER_INVALID, CURSOR_INVALID
    ├── StoreUnavailableError  -> UNAVAILABLE        STORE_UNAVAILABLE
    └── ModelError             -> UNAVAILABLE        BUNDLE_UNKNOWN, MODEL_NOT_INSTALLED, MODEL_CORRUPT, ...
    anything else              -> INTERNAL           INTERNAL (generic message, traceback in the log)

The reason travels in the trailing metadata key ``ocr-error-reason`` (ASCII, UPPER_SNAKE_CASE) of a failed call,
and in ``Error.reason`` of a failed batch item or stream frame. Handlers and interceptor hooks raise these errors;
the interceptor layer (server.interceptors) gives the call their status with ``fail_with``, the one place that
does. gRPC itself
refuses a call past its deadline (DEADLINE_EXCEEDED), and a message over twice the size limit
(RESOURCE_EXHAUSTED, see server.validation), before any handler runs; those carry no reason. Every call also
carries its request id in the trailing key ``x-request-id`` (server.security).
"""

from __future__ import annotations

import logging
import math
import uuid

import grpc

from edge_runtime.errors import (
    ConfigurationError,
    DeadlineExceededError,
    InvalidImageError,
    ModelError,
    NotReadyError,
    OcrError,
    OverloadedError,
)
from fleet.errors import FleetRequestError, StoreUnavailableError
from server.memory_budget import MemoryBudgetError

__all__ = [
    "REASON_KEY",
    "RETRY_AFTER_KEY",
    "InvalidRequestError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "RateLimitedError",
    "MessageTooLargeError",
    "status_of",
    "fail_with",
    "end_failed",
    "trailing_metadata_of",
]

log = logging.getLogger(__name__)

REASON_KEY = "ocr-error-reason"
RETRY_AFTER_KEY = "retry-after"


class InvalidRequestError(OcrError):
    """A request that is well-formed protobuf but breaks the contract (missing oneof, config not first, ...)."""

    reason = "REQUEST_INVALID"


class UnauthenticatedError(OcrError):
    """No credentials, or credentials that prove nothing (unknown, expired or revoked token)."""

    reason = "TOKEN_MISSING"


class PermissionDeniedError(OcrError):
    """A known caller asking for something its scopes do not allow."""

    reason = "SCOPE_MISSING"


class MessageTooLargeError(OcrError):
    """A request message over the server's ``max_message_bytes``."""

    reason = "MESSAGE_TOO_LARGE"


class RateLimitedError(OverloadedError):
    """A principal over its own limits; ``retry_after_s`` says when the next call would be accepted."""

    reason = "RATE_LIMITED"

    def __init__(self, message: str, reason: str | None = None, retry_after_s: float = 1.0) -> None:
        super().__init__(message, reason)
        self.retry_after_s = retry_after_s


# By reason first (a reason may outrank its class), then by class, most specific first.
_BY_REASON: dict[str, grpc.StatusCode] = {
    "SHUTTING_DOWN": grpc.StatusCode.UNAVAILABLE,
}
_BY_CLASS: tuple[tuple[type[OcrError], grpc.StatusCode], ...] = (
    (InvalidImageError, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (MemoryBudgetError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (OverloadedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (MessageTooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (NotReadyError, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceededError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (ModelError, grpc.StatusCode.UNAVAILABLE),
    (ConfigurationError, grpc.StatusCode.FAILED_PRECONDITION),
    (FleetRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (StoreUnavailableError, grpc.StatusCode.UNAVAILABLE),
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


def trailing_metadata_of(exc: BaseException, reason: str) -> tuple[tuple[str, str], ...]:
    """The trailing metadata a failed call carries for ``exc``: its reason, and ``retry-after`` when known."""
    metadata: tuple[tuple[str, str], ...] = ((REASON_KEY, reason),)
    retry = getattr(exc, "retry_after_s", None)
    if retry is not None:
        metadata += ((RETRY_AFTER_KEY, str(max(1, math.ceil(retry)))),)
    return metadata


def fail_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """Set the status, reason and message for ``exc`` on the call, which ends with them when its handler returns
    (after every interceptor has finished with it). Trailing metadata set earlier (the request id) is kept."""
    code, reason, message = status_of(exc)
    kept = tuple((k, v) for k, v in (context.trailing_metadata() or ()) if k not in (REASON_KEY, RETRY_AFTER_KEY))
    context.set_code(code)
    context.set_details(message)
    context.set_trailing_metadata(kept + trailing_metadata_of(exc, reason))


async def end_failed(context: grpc.aio.ServicerContext) -> None:
    """End a call whose status ``fail_with`` set now, as Trailers-Only (abort raises; nothing else is sent).

    Returning from the handler instead sends headers and an empty message before the status; a client's retry
    policy takes headers as the server's commitment and never retries such a call (server.trailers_only)."""
    code = context.code()
    if code is not None and code != grpc.StatusCode.OK:
        await context.abort(code, context.details() or "", tuple(context.trailing_metadata() or ()))
