"""Plumbing shared by the server's interceptors (security, metrics, cache): wrap every non-health handler's
behavior, whatever its streaming kind, without the servicers knowing."""

from __future__ import annotations

import inspect
from typing import Any, AsyncIterator, Callable

import grpc

__all__ = ["Interceptor", "around", "responses_of", "observed", "images_of", "is_health"]

Wrap = Callable[[Callable, bool, bool], Callable]

_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
Wrap = Callable[[Callable, bool, bool], Callable]


def rewrap(handler: grpc.RpcMethodHandler, wrap: Wrap) -> grpc.RpcMethodHandler:
    """The same handler with its behavior replaced by ``wrap(behavior, request_streaming, response_streaming)``."""
    for kind in _KINDS:
        behavior = getattr(handler, kind)
        if behavior is not None:
            factory = getattr(grpc, f"{kind}_rpc_method_handler")
            return factory(wrap(behavior, handler.request_streaming, handler.response_streaming),
                           request_deserializer=handler.request_deserializer,
                           response_serializer=handler.response_serializer)
    return handler


async def responses_of(behavior: Callable, request: Any, context) -> AsyncIterator:
    """A response-streaming behavior as an async iterator, whether it yields or writes with context.write."""
    result = behavior(request, context)
    if inspect.isasyncgen(result) or hasattr(result, "__aiter__"):
        async for response in result:
            yield response
    else:
        await result


def is_health(method: str) -> bool:
    return method.startswith("/grpc.health.v1.Health/")


class Interceptor(grpc.aio.ServerInterceptor):
    """Wraps every non-health handler with ``self.wrap``."""

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or is_health(details.method) or not self.applies(details.method):
            return handler
        return rewrap(handler, lambda behavior, rs, ps: self.wrap(details.method, behavior, rs, ps))

    def applies(self, method: str) -> bool:
        return True

    def wrap(self, method: str, behavior: Callable, request_streaming: bool, response_streaming: bool) -> Callable:
        raise NotImplementedError


def around(before, after_each, request_streaming: bool, response_streaming: bool, behavior: Callable,
            on_request=None) -> Callable:
    """A behavior that awaits ``before(request, context)`` (which may abort), passes each response through
    ``after_each`` and each streamed request through ``on_request``."""

    def requests_of(request, context):
        if not request_streaming or on_request is None:
            return request

        async def stream():
            async for item in request:
                await on_request(item, context)
                yield item

        return stream()

    if response_streaming:
        async def streaming(request, context):
            await before(request, context)
            async for response in responses_of(behavior, requests_of(request, context), context):
                yield after_each(response)

        return streaming

    async def unary(request, context):
        await before(request, context)
        return after_each(await behavior(requests_of(request, context), context))

    return unary


def images_of(request: Any) -> list:
    """The ocr.v1.Image messages a request carries (none for other requests)."""
    descriptor = getattr(request, "DESCRIPTOR", None)
    name = descriptor.full_name if descriptor is not None else ""
    if name == "ocr.v1.RecognizeRequest":
        return [request.image] if request.HasField("image") else []
    if name == "ocr.v1.BatchRecognizeRequest":
        return [r.image for r in request.requests if r.HasField("image")]
    if name == "ocr.v1.StreamRecognizeRequest":
        return [request.frame.image] if request.WhichOneof("request") == "frame" and request.frame.HasField("image") \
            else []
    return []


async def observed(requests: AsyncIterator, see: Callable[[Any], None]) -> AsyncIterator:
    async for item in requests:
        see(item)
        yield item
