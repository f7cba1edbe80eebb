"""One way to wrap a call: an ``Interceptor`` gives hooks (start, each request, each response, finish) and this
module runs them around every non-health handler, whatever its streaming kind, without the servicers knowing.

Errors are mapped here, once: a domain error raised by a hook or a servicer becomes the call's status code and
reason (``server.errors.fail_with``) in the first layer it passes through, which then ends the call normally: a
unary behavior returns None, a stream ends. Every outer layer sees that status (``outcome`` reads it back the same
way for the audit log, metrics and traces), and gRPC sends it only once every layer has finished, so a caller
that sees its error finds the call already audited and counted.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc

from server.errors import REASON_KEY, fail_with

__all__ = [
    "Call",
    "Interceptor",
    "outcome",
    "rewrap",
    "responses_of",
    "images_of",
    "document_chunk_of",
    "document_page_of",
    "call_failed",
    "is_health",
]

S = TypeVar("S")
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
Behavior = Callable[..., Any]
_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
_REASON = re.compile(r"[A-Z][A-Z0-9_]{0,47}")


@dataclass(frozen=True)
class Call:
    """One call as an interceptor sees it when it starts."""

    method: str  # the full name: /ocr.v1.OcrService/Recognize
    context: grpc.aio.ServicerContext
    request_streaming: bool
    response_streaming: bool

    @property
    def name(self) -> str:
        """The method's short name (Recognize): a bounded label value."""
        return self.method.rsplit("/", 1)[-1] or "unknown"


def outcome(context: grpc.aio.ServicerContext, error: BaseException | None) -> tuple[str, str]:
    """(status code name, reason) of a finished call: the status an abort set, else OK after a return, CANCELLED
    after a cancellation and UNKNOWN after an exception nothing mapped. The reason is the ``ocr-error-reason``
    trailer ("" without one; OTHER for anything but UPPER_SNAKE_CASE, so metric labels stay bounded)."""
    code = context.code()
    if code is None:
        code = (
            grpc.StatusCode.OK
            if error is None
            else grpc.StatusCode.UNKNOWN
            if isinstance(error, Exception)
            else grpc.StatusCode.CANCELLED
        )
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    reason = next((v for k, v in (context.trailing_metadata() or ()) if k == REASON_KEY), "")
    if not isinstance(reason, str) or not _REASON.fullmatch(reason):
        reason = "OTHER" if reason else ""
    return name, reason


def is_health(method: str) -> bool:
    return method.startswith("/grpc.health.v1.Health/")


def rewrap(
    handler: grpc.RpcMethodHandler,
    wrap: Callable[[Behavior, bool, bool], Behavior],
    deserializer: Callable[[Any], Any] = lambda deserialize: deserialize,
) -> grpc.RpcMethodHandler:
    """The same handler with its behavior replaced by ``wrap(behavior, request_streaming, response_streaming)``
    and its request deserializer by ``deserializer(deserialize)``."""
    for kind in _KINDS:
        behavior = getattr(handler, kind)
        if behavior is not None:
            factory = getattr(grpc, f"{kind}_rpc_method_handler")
            return factory(
                wrap(behavior, handler.request_streaming, handler.response_streaming),
                request_deserializer=deserializer(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
    return handler


class Interceptor(grpc.aio.ServerInterceptor, Generic[S]):
    """Runs its hooks around every handler it ``applies`` to (health probes never). Each hook is optional:

    - ``start(call) -> state`` before the behavior; raising a domain error refuses the call (no finish follows);
    - ``on_request(state, request)`` for the unary request, or for each streamed one as the behavior reads it;
    - ``on_response(state, response) -> response`` for each response on its way out;
    - ``finish(state, error)`` exactly once after a start, however the call ends: ``error`` is what ended it in
      this layer or below (a domain error, a cancellation), None after a return (the status may still be a
      failure an inner layer mapped: ``outcome`` says).

    A layer that must replace the behavior itself (the result cache) overrides ``wrap`` instead."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        handler = await continuation(details)
        if handler is None or is_health(details.method) or not self.applies(details.method):
            return handler
        return rewrap(handler, lambda behavior, rs, ps: self.wrap(details.method, behavior, rs, ps), self.deserializer)

    def applies(self, method: str) -> bool:
        return True

    def deserializer(self, deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
        """The request deserializer this layer installs (the same one unless overridden)."""
        return deserialize

    async def start(self, call: Call) -> S:
        return call  # type: ignore[return-value]  # a layer without state of its own keeps the call

    async def on_request(self, state: S, request: Any) -> None:
        return None

    def on_response(self, state: S, response: Any) -> Any:
        return response

    def finish(self, state: S, error: BaseException | None) -> None:
        return None

    def wrap(self, method: str, behavior: Behavior, request_streaming: bool, response_streaming: bool) -> Behavior:
        return around(self, method, behavior, request_streaming, response_streaming)


def call_failed(context: grpc.aio.ServicerContext) -> bool:
    """Whether an inner layer has already set a failure status on the call."""
    code = context.code()
    return code is not None and code != grpc.StatusCode.OK


def _settle(context: grpc.aio.ServicerContext, exc: BaseException) -> bool:
    """True when ``exc`` is an error of the call's, now its status (the first error's status stands): the layer
    then ends the call normally. False for what must go on up: a cancellation, or an abort (its status is sent)."""
    if not isinstance(exc, Exception) or isinstance(exc, grpc.aio.AbortError):
        return False
    if context.code() is None:
        fail_with(context, exc)
    return True


def around(
    layer: Interceptor, method: str, behavior: Behavior, request_streaming: bool, response_streaming: bool
) -> Behavior:
    """``behavior`` with ``layer``'s hooks run around it (see Interceptor)."""
    sees_requests = type(layer).on_request is not Interceptor.on_request

    async def each(state: Any, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            await layer.on_request(state, request)
            yield request

    async def requests_of(state: Any, request: Any) -> Any:
        if not request_streaming:
            await layer.on_request(state, request)
            return request
        return each(state, request) if sees_requests else request

    if response_streaming:

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                state = await layer.start(Call(method, context, request_streaming, response_streaming))
            except Exception as exc:
                if _settle(context, exc):
                    return
                raise
            error: BaseException | None = None
            try:
                request = await requests_of(state, request)
                async with contextlib.aclosing(responses_of(behavior, request, context)) as responses:
                    async for response in responses:
                        yield layer.on_response(state, response)
            except BaseException as exc:
                error = exc
                if not _settle(context, exc):
                    raise
            finally:
                layer.finish(state, error)

        return streaming

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            state = await layer.start(Call(method, context, request_streaming, response_streaming))
        except Exception as exc:
            if _settle(context, exc):
                return None
            raise
        error: BaseException | None = None
        try:
            request = await requests_of(state, request)
            response = await behavior(request, context)
            return response if call_failed(context) else layer.on_response(state, response)
        except BaseException as exc:
            error = exc
            if _settle(context, exc):
                return None
            raise
        finally:
            layer.finish(state, error)

    return unary


async def responses_of(
    behavior: Behavior, request: Any, context: grpc.aio.ServicerContext
) -> AsyncGenerator[Any, None]:
    """A response-streaming behavior as an async iterator, whether it yields or writes with context.write."""
    result = behavior(request, context)
    if inspect.isasyncgen(result) or hasattr(result, "__aiter__"):
        closing = contextlib.aclosing(result) if hasattr(result, "aclose") else contextlib.nullcontext(result)
        async with closing:  # a layer that stops early closes the behavior's generator now, not at collection
            async for response in result:
                yield response
    else:
        await result


def images_of(request: Any) -> list:
    """The ocr.v1.Image messages a request carries (none for other requests, or for bytes no message came of)."""
    descriptor = getattr(request, "DESCRIPTOR", None)
    name = descriptor.full_name if descriptor is not None else ""
    if name == "ocr.v1.RecognizeRequest":
        return [request.image] if request.HasField("image") else []
    if name == "ocr.v1.BatchRecognizeRequest":
        return [r.image for r in request.requests if r.HasField("image")]
    if name == "ocr.v1.StreamRecognizeRequest":
        return (
            [request.frame.image]
            if request.WhichOneof("request") == "frame" and request.frame.HasField("image")
            else []
        )
    return []


def _named(message: Any, name: str) -> bool:
    descriptor = getattr(message, "DESCRIPTOR", None)
    return descriptor is not None and descriptor.full_name == name


def document_chunk_of(request: Any) -> bytes | None:
    """The file bytes a RecognizeDocumentRequest carries (None for its options, or for any other request)."""
    if not _named(request, "ocr.v1.RecognizeDocumentRequest") or request.WhichOneof("request") != "chunk":
        return None
    return bytes(request.chunk)


def document_page_of(response: Any) -> Any:
    """The ocr.v1.Page a RecognizeDocumentResponse carries (None for an output chunk, or any other response)."""
    if not _named(response, "ocr.v1.RecognizeDocumentResponse") or response.WhichOneof("response") != "page":
        return None
    return response.page
