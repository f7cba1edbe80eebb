"""Who is calling and what the current call carried: the one record the security interceptors fill (audit sets
it up, auth names the principal, limits count pixels) and servicers and log lines read."""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field
from typing import Any

from server.errors import PermissionDeniedError, UnauthenticatedError

__all__ = [
    "Principal",
    "CallInfo",
    "current_call",
    "set_current_call",
    "principal_of",
    "ensure_self",
    "REQUEST_ID_KEY",
    "ANONYMOUS",
]

REQUEST_ID_KEY = "x-request-id"
ANONYMOUS = "anonymous"


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
    document: Any = None  # RecognizeDocument: the sha256 of the file as its chunks arrive (hashlib object)
    document_bytes: int = 0
    pages: int = 0
    failed_pages: int = 0


_current: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar("ocr_call", default=None)


def current_call() -> CallInfo | None:
    """The call the current task serves (None outside a call): its request id, principal and what it carried."""
    return _current.get()


def set_current_call(call: CallInfo) -> None:
    """Make ``call`` the current task's call (the outermost interceptor does, as the call starts)."""
    _current.set(call)


def principal_of(context: Any = None) -> Principal:
    """The authenticated caller of the current call (for servicers, e.g. the fleet service). Raises
    UnauthenticatedError when the call went through no AuthInterceptor."""
    call = _current.get()
    if call is None or call.principal is None:
        raise UnauthenticatedError("the call carries no authenticated principal", "TOKEN_MISSING")
    return call.principal


def ensure_self(context: Any, claimed: str, admin_scope: str = "fleet.admin") -> Principal:
    """A device can report only as itself: ``claimed`` must be the caller's principal (or the caller holds
    ``admin_scope``); else PermissionDeniedError / PRINCIPAL_MISMATCH."""
    principal = principal_of(context)
    if claimed != principal.name and admin_scope not in principal.scopes:
        raise PermissionDeniedError(f"{principal.name} may not act as {claimed}", "PRINCIPAL_MISMATCH")
    return principal
