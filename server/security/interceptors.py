"""The server interceptors around every servicer: request id and audit, authentication and scopes, limits per
principal, redaction of outgoing text. Servicers contain none of this; they may ask ``principal_of(context)``.

Order (outermost first): Audit -> Auth -> Limits -> Redact -> servicer. Health (``grpc.health.v1``) passes
through untouched: probes need no credentials and are not audited.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc

from server.errors import (REASON_KEY, PermissionDeniedError, RateLimitedError, UnauthenticatedError, abort_with)
from server.interceptors import Interceptor, around, images_of, observed, responses_of
from server.redact import Redactor
from server.security.audit import AuditLog
from server.security.limits import PrincipalLimiter, image_pixels
from server.security.scopes import AUTHENTICATED, OPEN, SCOPES, scope_of
from server.security.tokens import Limits, TokenFile, expired, hash_token

__all__ = ["Principal", "CallInfo", "current_call", "principal_of", "ensure_self", "AuditInterceptor", "AuthInterceptor",
           "LimitInterceptor", "RedactInterceptor", "REQUEST_ID_KEY", "ANONYMOUS"]

log = logging.getLogger(__name__)
REQUEST_ID_KEY = "x-request-id"
ANONYMOUS = "anonymous"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/=+-]{1,128}")
_MAX_AUDIT_IMAGES = 64  # image hashes listed per audit line (a long stream lists its first ones and counts all)


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``name`` (the token's principal, or the certificate's SPIFFE URI / CN), its scopes, how it
    proved it (``token``, ``cert`` or ``none`` when the server has no credentials configured) and the verified
    certificate identity, if any."""

    name: str
    scopes: frozenset[str]
    via: str
    identity: str | None = None


@dataclass
class CallInfo:
    """What the interceptors learn about one call; the audit line is made from it."""

    method: str
    request_id: str
    peer: str
    started: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    image_count: int = 0
    image_bytes: int = 0
    pixels: int = 0
    lines: int = 0
    events: int = 0
    texts: list[str] = field(default_factory=list)
    bundle: str = ""
    precision: dict[str, str] = field(default_factory=dict)


_current: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar("ocr_call", default=None)


def current_call() -> CallInfo | None:
    """The call the current task serves (None outside a call): its request id, principal and what it carried."""
    return _current.get()


def principal_of(context: grpc.aio.ServicerContext | None = None) -> Principal:
    """The authenticated caller of the current call (for servicers, e.g. the fleet service). Raises
    UnauthenticatedError when the call went through no AuthInterceptor."""
    call = _current.get()
    if call is None or call.principal is None:
        raise UnauthenticatedError("the call carries no authenticated principal", "TOKEN_MISSING")
    return call.principal


def ensure_self(context: grpc.aio.ServicerContext | None, claimed: str, admin_scope: str = "fleet.admin") -> Principal:
    """A device can report only as itself: ``claimed`` must be the caller's principal (or the caller holds
    ``admin_scope``); else PermissionDeniedError / PRINCIPAL_MISMATCH."""
    principal = principal_of(context)
    if claimed != principal.name and admin_scope not in principal.scopes:
        raise PermissionDeniedError(f"{principal.name} may not act as {claimed}", "PRINCIPAL_MISMATCH")
    return principal


# ---- handler plumbing -----------------------------------------------------------------------------------
def _identity(auth_context: dict[str, list[bytes]]) -> str | None:
    """The verified client certificate's identity: its SPIFFE ID, else its first URI SAN, else its CN."""
    for key in ("peer_spiffe_id", "peer_uri", "x509_common_name"):
        values = auth_context.get(key) or []
        if values:
            return values[0].decode(errors="replace")
    return None


def _payload(image) -> bytes:
    which = image.WhichOneof("source")
    return image.content if which == "content" else image.raw.data if which == "raw" else b""


# ---- audit and request ids --------------------------------------------------------------------------------
class AuditInterceptor(Interceptor):
    """Gives each call a request id (the caller's ``x-request-id`` when it is sane, else a new one), returns it
    in the trailing metadata and, when an audit log is set, writes one JSON line when the call ends."""

    def __init__(self, audit: AuditLog, with_text: bool = False,
                 provenance: Callable[[], tuple[str, dict[str, str]]] | None = None) -> None:
        self.audit = audit
        self.with_text = with_text
        self.provenance = provenance  # (bundle, precision per stage) for calls whose responses carry none

    def wrap(self, method, behavior, request_streaming, response_streaming):
        audit = self.audit

        def start(context) -> CallInfo:
            given = dict(context.invocation_metadata() or ()).get(REQUEST_ID_KEY)
            request_id = given if isinstance(given, str) and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
            call = CallInfo(method, request_id, context.peer() or "")
            _current.set(call)
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
            return call

        def note_images(call: CallInfo, request) -> None:
            if not audit.enabled:
                return
            for image in images_of(request):
                data = _payload(image)
                call.image_count += 1
                call.image_bytes += len(data)
                if len(call.images) < _MAX_AUDIT_IMAGES:
                    call.images.append({"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})

        def note_response(call: CallInfo, response) -> None:
            if audit.enabled:
                _summarize(call, response, self.with_text)

        def finish(call: CallInfo, context, error: BaseException | None) -> None:
            if audit.enabled and not call.bundle and call.lines and self.provenance is not None:
                call.bundle, call.precision = self.provenance()
            if audit.enabled:
                audit.write(_record(call, context, error, self.with_text))

        if response_streaming:
            async def streaming(request, context):
                call = start(context)
                error = None
                if request_streaming:
                    request = observed(request, lambda item: note_images(call, item))
                else:
                    note_images(call, request)
                try:
                    async for response in responses_of(behavior, request, context):
                        note_response(call, response)
                        yield response
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    finish(call, context, error)

            return streaming

        async def unary(request, context):
            call = start(context)
            error = None
            if request_streaming:
                request = observed(request, lambda item: note_images(call, item))
            else:
                note_images(call, request)
            try:
                response = await behavior(request, context)
                note_response(call, response)
                return response
            except BaseException as exc:
                error = exc
                raise
            finally:
                finish(call, context, error)

        return unary


def _summarize(call: CallInfo, response: Any, with_text: bool) -> None:
    name = response.DESCRIPTOR.full_name if hasattr(response, "DESCRIPTOR") else ""
    if name == "ocr.v1.BatchRecognizeResponse":
        for item in response.responses:
            _summarize(call, item, with_text)
        return
    if name in ("ocr.v1.RecognizeResponse", "ocr.v1.StreamRecognizeResponse"):
        call.lines += len(response.lines)
        if with_text:
            call.texts.extend(line.text for line in response.lines)
    if name == "ocr.v1.StreamRecognizeResponse":
        call.events += len(response.events)
    if hasattr(response, "provenance") and response.HasField("provenance"):
        call.bundle = response.provenance.bundle_id or call.bundle
        call.precision = dict(response.provenance.stage_precision) or call.precision


def _record(call: CallInfo, context, error: BaseException | None, with_text: bool) -> dict[str, Any]:
    code = context.code()
    if code is None:
        code = grpc.StatusCode.OK if error is None else (
            grpc.StatusCode.CANCELLED if isinstance(error, BaseException) and not isinstance(error, Exception)
            else grpc.StatusCode.UNKNOWN)
    reason = next((v for k, v in (context.trailing_metadata() or ()) if k == REASON_KEY), None)
    principal = call.principal
    record: dict[str, Any] = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": call.request_id,
        "method": call.method,
        "peer": call.peer,
        "principal": principal.name if principal else None,
        "via": principal.via if principal else None,
        "identity": principal.identity if principal else None,
        "status": code.name if isinstance(code, grpc.StatusCode) else str(code),
        "reason": reason,
        "latency_ms": round((time.perf_counter() - call.started) * 1000, 2),
        "images": call.images,
        "image_count": call.image_count,
        "image_bytes": call.image_bytes,
        "pixels": call.pixels,
        "lines": call.lines,
        "bundle": call.bundle or None,
        "precision": call.precision or None,
    }
    if call.events:
        record["events"] = call.events
    if with_text:
        record["text"] = call.texts
    return record


# ---- authentication and scopes --------------------------------------------------------------------------
class AuthInterceptor(Interceptor):
    """Authenticates the caller (bearer token in ``authorization`` metadata, or a verified client certificate)
    and checks the scope the method needs (server.security.scopes). Without credentials configured every
    caller is ``anonymous`` with every scope (a loopback-only server, or one started with --insecure)."""

    def __init__(self, tokens: TokenFile | None, mutual_tls: bool, cert_scopes: tuple[str, ...] = (),
                 open_reflection: bool = False, open_server_info: bool = False) -> None:
        self.tokens = tokens
        self.mutual_tls = mutual_tls
        self.cert_scopes = frozenset(cert_scopes)
        self.open_reflection = open_reflection
        self.open_server_info = open_server_info

    @property
    def enforcing(self) -> bool:
        return self.tokens is not None or self.mutual_tls

    def authenticate(self, context) -> Principal:
        identity = _identity(context.auth_context() or {}) if self.mutual_tls else None
        if not self.enforcing:
            return Principal(ANONYMOUS, frozenset(SCOPES), "none")
        header = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                header = value if isinstance(value, str) else value.decode(errors="replace")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise UnauthenticatedError("authorization metadata must be 'Bearer <token>'", "TOKEN_INVALID")
            if self.tokens is None:
                raise UnauthenticatedError("this server takes no tokens (client certificates only)", "TOKEN_INVALID")
            grant = self.tokens.token(hash_token(token.strip()))
            if grant is None:
                raise UnauthenticatedError("unknown token", "TOKEN_INVALID")
            if grant.revoked:
                raise UnauthenticatedError("the token was revoked", "TOKEN_REVOKED")
            if expired(grant):
                raise UnauthenticatedError("the token has expired", "TOKEN_EXPIRED")
            return Principal(grant.principal, grant.scopes, "token", identity)
        if identity is not None:
            grant = self.tokens.identity(identity) if self.tokens is not None else None
            if grant is None:
                return Principal(identity, self.cert_scopes, "cert", identity)
            if grant.revoked:
                raise UnauthenticatedError(f"certificate identity {identity} was revoked", "TOKEN_REVOKED")
            if expired(grant):
                raise UnauthenticatedError(f"certificate identity {identity} has expired", "TOKEN_EXPIRED")
            return Principal(grant.principal, grant.scopes, "cert", identity)
        if self.mutual_tls and (context.auth_context() or {}).get("transport_security_type") == [b"ssl"]:
            raise UnauthenticatedError("the client certificate names no identity (URI SAN or CN)", "CERT_UNKNOWN")
        raise UnauthenticatedError("no credentials: send 'authorization: Bearer <token>'", "TOKEN_MISSING")

    def wrap(self, method, behavior, request_streaming, response_streaming):
        needed = scope_of(method, self.open_reflection, self.open_server_info)

        async def before(request, context):
            try:
                call = _current.get()
                principal = self._try(context) if needed == OPEN else self.authenticate(context)
                if call is not None:
                    call.principal = principal  # audited even when refused below
                if needed is None:
                    raise PermissionDeniedError(f"{method} is in no scope table", "METHOD_NOT_ALLOWED")
                if needed not in (OPEN, AUTHENTICATED) and needed not in principal.scopes:
                    raise PermissionDeniedError(f"{principal.name} lacks scope {needed}", "SCOPE_MISSING")
            except (UnauthenticatedError, PermissionDeniedError) as exc:
                await abort_with(context, exc)

        return around(before, lambda r: r, request_streaming, response_streaming, behavior)

    def _try(self, context) -> Principal:
        try:
            return self.authenticate(context)
        except UnauthenticatedError:
            return Principal(ANONYMOUS, frozenset(), "none")


_STREAM_RECOGNIZE = "/ocr.v1.OcrService/StreamRecognize"


# ---- limits per principal ----------------------------------------------------------------------------------
class LimitInterceptor(Interceptor):
    """Calls per second, image pixels per second (from headers) and open streams, per principal; past a limit
    the call ends RESOURCE_EXHAUSTED with a reason and a ``retry-after`` hint."""

    def __init__(self, defaults: Limits, tokens: TokenFile | None,
                 max_image_pixels: Callable[[], int] = lambda: 40_000_000) -> None:
        self.limiter = PrincipalLimiter(defaults)
        self.tokens = tokens
        self.max_image_pixels = max_image_pixels  # larger images are refused from the header: they cost nothing

    def _who(self) -> tuple[str, Limits]:
        call = _current.get()
        name = call.principal.name if call is not None and call.principal is not None else ANONYMOUS
        return name, self.tokens.limits(name) if self.tokens is not None else Limits()

    def _charge_pixels(self, name: str, limits: Limits, request) -> None:
        cap = self.max_image_pixels()
        pixels = sum(p for p in map(image_pixels, images_of(request)) if p <= cap)
        call = _current.get()
        if call is not None:
            call.pixels += pixels
        wait = self.limiter.take_pixels(name, limits, pixels)
        if wait:
            raise RateLimitedError(f"{name} is over its pixel rate", "PIXEL_RATE_LIMITED", wait)

    def wrap(self, method, behavior, request_streaming, response_streaming):
        limiter = self.limiter

        async def before(request, context):
            name, limits = self._who()
            try:
                wait = limiter.take_call(name, limits)
                if wait:
                    raise RateLimitedError(f"{name} is over its call rate", "RATE_LIMITED", wait)
                if not request_streaming:
                    self._charge_pixels(name, limits, request)
            except RateLimitedError as exc:
                await abort_with(context, exc)

        async def on_request(item, context):  # a streamed frame: the servicer maps the error (and ends the call)
            name, limits = self._who()
            self._charge_pixels(name, limits, item)

        # only camera frames carry pixels: a fleet report's requests pass untouched (no per-request principal lookup)
        inner = around(before, lambda r: r, request_streaming, response_streaming, behavior,
                       on_request if method == _STREAM_RECOGNIZE else None)
        if method != _STREAM_RECOGNIZE:  # only camera streams count against max_streams (not fleet reports)
            return inner

        def stream_slot(run: Callable) -> Callable:
            async def opened(context) -> str:
                name, limits = self._who()
                if not limiter.open_stream(name, limits):
                    most = limits.over(limiter.defaults).max_streams
                    await abort_with(context, RateLimitedError(
                        f"{name} has {most} streams open, its limit", "TOO_MANY_STREAMS", 1.0))
                return name

            if response_streaming:
                async def streaming(request, context):
                    name = await opened(context)
                    try:
                        async for response in run(request, context):
                            yield response
                    finally:
                        limiter.close_stream(name)

                return streaming

            async def unary(request, context):
                name = await opened(context)
                try:
                    return await run(request, context)
                finally:
                    limiter.close_stream(name)

            return unary

        return stream_slot(inner)


# ---- redaction ----------------------------------------------------------------------------------------------
class RedactInterceptor(Interceptor):
    """Masks personal data (server.redact) in every text an OcrService response or stream event carries."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def applies(self, method: str) -> bool:
        return method.startswith("/ocr.v1.OcrService/")

    def wrap(self, method, behavior, request_streaming, response_streaming):
        async def nothing(request, context):
            return None

        return around(nothing, self.redact, request_streaming, response_streaming, behavior)

    def redact(self, response: Any) -> Any:
        name = response.DESCRIPTOR.full_name if hasattr(response, "DESCRIPTOR") else ""
        redactor = self.redactor
        if name == "ocr.v1.BatchRecognizeResponse":
            for item in response.responses:
                self.redact(item)
            return response
        if name not in ("ocr.v1.RecognizeResponse", "ocr.v1.StreamRecognizeResponse"):
            return response
        for line in response.lines:
            text, words = redactor.line(line.text, [w.text for w in line.words])
            line.text = text
            for word, masked in zip(line.words, words):
                word.text = masked
        if name == "ocr.v1.RecognizeResponse":
            response.text = redactor.text(response.text)
        else:
            for event in response.events:
                event.text = redactor.text(event.text)
                for candidate in event.candidates:  # the readings a track chose from carry the same data
                    candidate.text = redactor.text(candidate.text)
        return response
