"""The HTTP port: each REST call transcoded into a call on this server's own gRPC port, in-process.

Why a channel to itself rather than calling the servicers: every layer a gRPC caller passes (auth and scopes,
rate limits, audit, metrics, result cache, redaction, validation, error mapping, draining) then applies to an
HTTP caller by construction, and stays so as layers change. The channel is a unix socket in a directory only
this user can enter; whoever reaches it still passes the same interceptors (no credentials are implied by it),
and a verified client certificate crosses only with the in-process secret (server.http.handoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import ssl
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from server.config import ServerConfig
from server.http.documents import document_requests
from server.http.errors import HttpError, from_rpc_error
from server.http.handoff import Handoff, certificate_identity
from server.http.routes import Route, match, routes_of
from server.http.sse import stream_events
from server.http.static import StaticFiles
from server.http.transcode import apply_path, apply_query, malformed, parse_body, to_json

__all__ = ["HttpGateway"]

log = logging.getLogger(__name__)
_FORWARDED = ("authorization", "x-request-id")  # request headers passed on as call metadata
_FIRST_EVENT_WAIT_S = 0.5  # a stream refused at once (auth, scope, filter) answers its HTTP status, not an event
_DOCUMENT_CHUNK_BYTES = 1 << 20


class HttpGateway:
    """REST routes from the services' annotations, /openapi.json and the console, on ``config.http_port``."""

    def __init__(
        self,
        config: ServerConfig,
        services: Sequence[ServiceDescriptor],
        socket_dir: Path,
        handoff: Handoff,
        server_credentials: ssl.SSLContext | None,
        openapi: Callable[[], dict[str, Any]],
    ) -> None:
        self.config = config
        self.routes: list[Route] = routes_of(services)
        self.socket_path = socket_dir / "grpc.sock"
        self._socket_dir = socket_dir
        self.handoff = handoff
        self.ssl = server_credentials
        self._openapi = openapi
        self._openapi_json: bytes | None = None
        self.static = StaticFiles()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._channel: grpc.aio.Channel | None = None

    @classmethod
    def attach(
        cls, grpc_server: grpc.aio.Server, config: ServerConfig, services: Sequence[ServiceDescriptor], auth: Any
    ) -> HttpGateway:
        """Bind the in-process socket on ``grpc_server`` (before it starts) and give ``auth`` the hand-off."""
        from server.http.openapi import openapi_document

        socket_dir = Path(tempfile.mkdtemp(prefix="edge-ocr-http-"))  # mode 0700: this user only
        handoff = Handoff()
        auth.handoff = handoff
        gateway = cls(config, services, socket_dir, handoff, _ssl_context(config), lambda: openapi_document(services))
        if grpc_server.add_insecure_port(f"unix:{gateway.socket_path}") == 0:
            raise RuntimeError(f"cannot bind the in-process socket {gateway.socket_path}")
        return gateway

    # ---- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen; the bound port (useful with port 0)."""
        limit = transport_body_limit(self.config)
        self._channel = grpc.aio.insecure_channel(
            f"unix:{self.socket_path}",
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        app = web.Application(client_max_size=limit, handler_args={"max_field_size": 16384})
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._handle)  # any path, a newline too
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        host = self.config.http_bind_host.strip("[]")
        if host == "localhost" and self.config.http_port == 0:
            host = "127.0.0.1"  # one address, so one port
        site = web.TCPSite(self._runner, host, self.config.http_port, ssl_context=self.ssl, reuse_port=False)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            from edge_runtime.errors import ConfigurationError

            raise ConfigurationError(
                f"cannot listen on HTTP {host}:{self.config.http_port}: {exc.strerror or exc}", "PORT_UNAVAILABLE"
            ) from None
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        shutil.rmtree(self._socket_dir, ignore_errors=True)

    # ---- requests -------------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except HttpError as exc:
            return _error_response(exc)
        except web.HTTPRequestEntityTooLarge as exc:
            return _error_response(
                HttpError(grpc.StatusCode.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE", exc.text or "", http_status=413)
            )
        except grpc.aio.AioRpcError as exc:
            return _error_response(from_rpc_error(exc))
        except web.HTTPException as exc:  # aiohttp refused the request itself (a body it cannot read)
            code = grpc.StatusCode.INVALID_ARGUMENT if exc.status < 500 else grpc.StatusCode.INTERNAL
            return _error_response(HttpError(code, "REQUEST_MALFORMED", exc.reason, http_status=exc.status))
        except Exception:  # a bug of this layer: INTERNAL with a generic message, the traceback in the log
            log.exception("HTTP %s %s failed", request.method, request.path)
            return _error_response(HttpError(grpc.StatusCode.INTERNAL, "INTERNAL", "internal error"))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        route, variables, verbs = match(self.routes, request.method, path)
        if route is None:
            if request.method in ("GET", "HEAD"):
                if request.path == "/openapi.json":
                    return self._openapi_response()
                found = self.static.find(request.path)
                if found is not None:
                    return self.static.response(found)
            if verbs:
                allow = ", ".join(verbs)
                code = grpc.StatusCode.UNIMPLEMENTED
                raise HttpError(code, "HTTP_METHOD_NOT_ALLOWED", f"use {allow}", {"allow": allow}, 405)
            raise HttpError(grpc.StatusCode.NOT_FOUND, "ROUTE_UNKNOWN", f"no route {request.method} {request.path}")
        metadata = self._metadata(request)
        kind = (route.method.client_streaming, route.method.server_streaming)
        if kind == (False, False):
            return await self._unary(request, route, variables, metadata)
        if kind == (False, True):
            return await self._server_stream(request, route, variables, metadata)
        if kind == (True, True):
            return await self._document(request, route, metadata)
        raise HttpError(grpc.StatusCode.UNIMPLEMENTED, "ROUTE_UNKNOWN", "a client stream has no HTTP form")

    def _metadata(self, request: web.Request) -> tuple[tuple[str, str], ...]:
        pairs = [(k, request.headers[k]) for k in _FORWARDED if k in request.headers]
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport is not None else None
        identity = certificate_identity(ssl_object) if self.config.tls_client_ca else None
        return tuple(pairs) + (self.handoff.metadata(identity) if identity else ())

    async def _message(self, request: web.Request, route: Route, variables: dict[str, str]) -> Message:
        message = route.request_class()
        if route.body == "*":
            parse_body(await request.read(), message)
            if request.query:
                raise malformed("this route takes its fields from the body only")
        else:
            if route.body:
                raise malformed("a field body is not used in this contract")
            apply_query(request.query.items(), message)
        apply_path(variables, message)
        return message

    def _callable(self, route: Route, kind: str) -> Any:
        assert self._channel is not None, "start() first"
        factory = getattr(self._channel, kind)
        return factory(
            route.full_method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=route.response_class.FromString,
        )

    async def _unary(
        self, request: web.Request, route: Route, variables: dict[str, str], metadata: Any
    ) -> web.StreamResponse:
        message = await self._message(request, route, variables)
        call = self._callable(route, "unary_unary")(message, metadata=metadata)
        answer = await call
        headers = await _request_id(call)
        return web.Response(text=to_json(answer), content_type="application/json", headers=headers)

    async def _server_stream(
        self, request: web.Request, route: Route, variables: dict[str, str], metadata: Any
    ) -> web.StreamResponse:
        message: Any = await self._message(request, route, variables)
        last_id = request.headers.get("last-event-id")
        if last_id and "cursor" in message.DESCRIPTOR.fields_by_name and not message.cursor:
            message.cursor = last_id  # an EventSource reconnecting resumes after the last event it had
        call = self._callable(route, "unary_stream")(message, metadata=metadata)
        iterator = aiter(call)
        first_task = asyncio.ensure_future(anext(iterator))
        done, _ = await asyncio.wait({first_task}, timeout=_FIRST_EVENT_WAIT_S)
        first = None
        if done:
            try:
                first = first_task.result()
            except StopAsyncIteration:
                first = None
            except grpc.aio.AioRpcError as exc:
                raise from_rpc_error(exc) from None

        async def rest() -> Any:
            if not done:
                try:
                    yield await first_task
                except StopAsyncIteration:
                    return
            elif first is None:
                return
            async for item in iterator:
                yield item

        try:
            return await stream_events(request, rest(), first, {}, _as_http_error)
        finally:
            call.cancel()

    async def _document(self, request: web.Request, route: Route, metadata: Any) -> web.StreamResponse:
        requests = await document_requests(request, route.request_class, _DOCUMENT_CHUNK_BYTES)
        call = self._callable(route, "stream_stream")(iter(requests), metadata=metadata)
        iterator = aiter(call)
        try:
            first = await anext(iterator)
        except StopAsyncIteration:
            first = None
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        headers = await _request_id(call, wait=False)
        response = web.StreamResponse(headers={"content-type": "application/x-ndjson", **headers})
        await response.prepare(request)
        try:
            if first is not None:
                await response.write((to_json(first) + "\n").encode())
                async for item in iterator:
                    await response.write((to_json(item) + "\n").encode())
        except grpc.aio.AioRpcError as exc:  # a failure after the first page: the last line says so
            with contextlib.suppress(ConnectionResetError):
                await response.write((from_rpc_error(exc).json() + "\n").encode())
        finally:
            call.cancel()
        await response.write_eof()
        return response

    def _openapi_response(self) -> web.Response:
        if self._openapi_json is None:
            self._openapi_json = json.dumps(self._openapi(), indent=2).encode()
        return web.Response(body=self._openapi_json, content_type="application/json")


def _as_http_error(exc: BaseException) -> HttpError:
    if isinstance(exc, grpc.aio.AioRpcError):
        return from_rpc_error(exc)
    log.exception("HTTP stream failed", exc_info=exc)
    return HttpError(grpc.StatusCode.INTERNAL, "INTERNAL", "internal error")


async def _request_id(call: Any, wait: bool = True) -> dict[str, str]:
    """The call's request id (set by the audit layer) as a header: from the trailers of a finished call, else
    from its initial metadata."""
    metadata = await call.trailing_metadata() if wait else await call.initial_metadata()
    for key, value in metadata or ():
        if key == "x-request-id":
            return {"x-request-id": value if isinstance(value, str) else value.decode()}
    return {}


def _error_response(error: HttpError) -> web.Response:
    return web.Response(status=error.http_status, text=error.json(), headers=error.response_headers())


def transport_body_limit(config: ServerConfig) -> int:
    """Largest HTTP body read: a message or a document, base64-inflated, with room for the JSON around it."""
    return max(config.max_message_bytes, config.max_document_bytes) * 4 // 3 + (1 << 16)


def _ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The gRPC port's certificate, key and client CA, for the HTTP port (a client certificate is required
    where the gRPC port requires one)."""
    if not config.tls:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_client_ca:
        context.load_verify_locations(cafile=config.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
