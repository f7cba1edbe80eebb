"""Requests checked once, for every method, before a servicer sees them: bytes that are no valid protobuf message
are refused INVALID_ARGUMENT / REQUEST_MALFORMED (not gRPC's generic deserialization failure), and a message over
``max_message_bytes`` RESOURCE_EXHAUSTED / MESSAGE_TOO_LARGE, both with their reason in the trailer and the audit
line. gRPC reads up to ``transport_limit`` (twice the limit) so that this layer sees the over-size message; a
larger one it cuts off itself, unread and without a reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.errors import InvalidRequestError, MessageTooLargeError
from server.interceptors import Interceptor

__all__ = ["ValidationInterceptor", "Malformed", "TooLarge", "transport_limit"]

_MOST = 2**31 - 1  # gRPC's own ceiling on a message length


def transport_limit(max_message_bytes: int) -> int:
    """What the transport itself lets through: enough above the configured limit that a message a little (up to
    twice) over it reaches ValidationInterceptor and is refused with its reason."""
    return min(_MOST, 2 * max_message_bytes)


class Malformed:
    """Stands in for request bytes that are no valid message (kept to be refused, with the parser's complaint)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class TooLarge:
    """Stands in for a request message over the configured limit (its bytes are not parsed)."""

    def __init__(self, size: int) -> None:
        self.size = size


class ValidationInterceptor(Interceptor):
    """The innermost layer: installs a deserializer that never fails the call on its own, and refuses what it
    marked (inside authentication and limits, so a caller learns about the contract only once allowed in)."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes

    def deserializer(self, deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
        limit = self.max_message_bytes

        def tolerant(data: bytes) -> Any:
            if len(data) > limit:
                return TooLarge(len(data))
            if deserialize is None:
                return data
            try:
                return deserialize(data)
            except Exception as exc:  # DecodeError, RecursionError on hostile nesting, ...
                return Malformed(exc)

        return tolerant

    async def on_request(self, state: Any, request: Any) -> None:
        if isinstance(request, TooLarge):
            raise MessageTooLargeError(
                f"request message of {request.size} bytes; the limit is {self.max_message_bytes}", "MESSAGE_TOO_LARGE"
            )
        if isinstance(request, Malformed):
            raise InvalidRequestError(f"request is not a valid protobuf message: {request.error}", "REQUEST_MALFORMED")
