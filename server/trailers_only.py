"""The outermost interceptor: a unary call that failed ends as a gRPC Trailers-Only response, so clients may retry it.

A handler (or a layer) that fails a call sets its status and returns (server.errors.fail_with); grpc then sends
response headers, an empty message and the status. A client's retry policy treats response headers as the
server's commitment to the call and never retries it, so a replica that refuses UNAVAILABLE (draining, models
loading) would fail the call instead of passing it to the next replica. Ending the call with ``abort`` after
every other layer has finished sends the same status, details and trailers as Trailers-Only, which the policy
retries. Streamed responses are left as they are: they are committed at their first message anyway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from server.errors import end_failed
from server.interceptors import rewrap

__all__ = ["TrailersOnlyInterceptor"]


def _ending_trailers_only(
    behavior: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]], _request_streaming: bool, _streaming: bool
) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        response = await behavior(request, context)
        await end_failed(context)
        return response

    return unary


class TrailersOnlyInterceptor(grpc.aio.ServerInterceptor):
    """Ends failed unary-response calls with ``abort`` (Trailers-Only); first in the server's interceptor list."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.response_streaming:
            return handler
        return rewrap(handler, _ending_trailers_only)
