"""Authentication and scopes: who the caller is (a bearer token or a verified client certificate) and whether the
method it calls is in its scopes (server.scopes); a refusal ends the call before anything is spent."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc

from server.errors import PermissionDeniedError, UnauthenticatedError
from server.interceptors import Call, Interceptor
from server.scopes import AUTHENTICATED, OPEN, SCOPES, scope_of
from server.security.call import ANONYMOUS, Principal, current_call
from server.security.tokens import TokenFile, expired, hash_token

__all__ = ["AuthInterceptor"]


def _identity(auth_context: Mapping[str, Iterable[bytes]]) -> str | None:
    """The verified client certificate's identity: its SPIFFE ID, else its first URI SAN, else its CN."""
    for key in ("peer_spiffe_id", "peer_uri", "x509_common_name"):
        for value in auth_context.get(key) or ():
            return value.decode(errors="replace")
    return None


class AuthInterceptor(Interceptor[Call]):
    """Authenticates the caller (bearer token in ``authorization`` metadata, or a verified client certificate)
    and checks the scope the method needs (server.scopes). Without credentials configured every
    caller is ``anonymous`` with every scope (a loopback-only server, or one started with --insecure)."""

    def __init__(
        self,
        tokens: TokenFile | None,
        mutual_tls: bool,
        cert_scopes: tuple[str, ...] = (),
        open_reflection: bool = False,
        open_server_info: bool = False,
    ) -> None:
        self.tokens = tokens
        self.mutual_tls = mutual_tls
        self.cert_scopes = frozenset(cert_scopes)
        self.open_reflection = open_reflection
        self.open_server_info = open_server_info
        # set by server.http: the HTTP port's verified client-certificate identity, read from call metadata
        # (trusted only with the in-process secret; see server.http.handoff)
        self.handoff: Callable[[Iterable[tuple[str, Any]]], str | None] | None = None

    @property
    def enforcing(self) -> bool:
        return self.tokens is not None or self.mutual_tls

    async def start(self, call: Call) -> Call:
        needed = scope_of(call.method, self.open_reflection, self.open_server_info)
        principal = self._try(call.context) if needed == OPEN else self.authenticate(call.context)
        info = current_call()
        if info is not None:
            info.principal = principal  # audited even when refused below
        if needed is None:
            raise PermissionDeniedError(f"{call.method} is in no scope table", "METHOD_NOT_ALLOWED")
        if needed not in (OPEN, AUTHENTICATED) and needed not in principal.scopes:
            raise PermissionDeniedError(f"{principal.name} lacks scope {needed}", "SCOPE_MISSING")
        return call

    def authenticate(self, context: grpc.aio.ServicerContext) -> Principal:
        identity = _identity(context.auth_context() or {}) if self.mutual_tls else None
        if identity is None and self.mutual_tls and self.handoff is not None:
            identity = self.handoff(context.invocation_metadata() or ())
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

    def _try(self, context: grpc.aio.ServicerContext) -> Principal:
        try:
            return self.authenticate(context)
        except UnauthenticatedError:
            return Principal(ANONYMOUS, frozenset(), "none")
