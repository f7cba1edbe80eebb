"""gRPC status -> HTTP status (Google's API design guide, google/rpc/code.proto) and the JSON error body.

A failed call answers ``{"error": {"code": <HTTP status>, "status": "INVALID_ARGUMENT", "message": ...,
"reason": "IMAGE_MISSING", "details": [google.rpc.ErrorInfo]}}`` with the reason also in the ``ocr-error-reason``
header, the request id in ``x-request-id`` and, for rate limits, ``retry-after``: the same facts a gRPC caller
reads from the status and trailers. Errors are mapped by the gRPC layer (server.errors); this module only
translates them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from server.errors import REASON_KEY

__all__ = ["HTTP_STATUS", "ERROR_DOMAIN", "HttpError", "from_rpc_error", "error_body"]

HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
ERROR_DOMAIN = "edge-ocr"  # google.rpc.ErrorInfo.domain of every reason
_PASSED_ON = ("x-request-id", "retry-after")  # trailers a failed call's HTTP answer carries as headers


class HttpError(Exception):
    """A failed call as HTTP answers it: HTTP status, gRPC status name, reason, message and headers."""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.headers = dict(headers or {})
        self.http_status = http_status or HTTP_STATUS.get(code, 500)

    def body(self) -> dict[str, Any]:
        return error_body(self.http_status, self.code, self.reason, self.message)

    def json(self) -> str:
        return json.dumps(self.body(), ensure_ascii=False)

    def response_headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.headers}
        if self.reason:
            headers[REASON_KEY] = self.reason
        return headers


def error_body(http_status: int, code: grpc.StatusCode, reason: str, message: str) -> dict[str, Any]:
    """The google.rpc.Status-like body; ``reason`` is "" for failures gRPC itself raised (no reason)."""
    error: dict[str, Any] = {"code": http_status, "status": code.name, "message": message}
    if reason:
        error["reason"] = reason
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": ERROR_DOMAIN}
        ]
    return {"error": error}


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode(errors="replace")


def from_rpc_error(error: grpc.aio.AioRpcError) -> HttpError:
    """The HTTP form of a failed in-process call (its status, reason trailer and request id)."""
    trailers: Iterable[tuple[str, str | bytes]] = tuple(error.trailing_metadata() or ())
    reason = next((_text(v) for k, v in trailers if k == REASON_KEY), "")
    headers = {k: _text(v) for k, v in trailers if k in _PASSED_ON}
    return HttpError(error.code(), reason, error.details() or "", headers)
