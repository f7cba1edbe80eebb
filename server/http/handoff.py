"""The HTTP port's verified client-certificate identity, handed to the gRPC auth layer so only this process can.

The HTTP layer calls the server's own gRPC port in-process (server.http.gateway). A client certificate is
verified by the HTTP port's TLS, not by that in-process channel, so the identity travels in call metadata beside
a secret made at start-up that never leaves the process: AuthInterceptor trusts the identity only when the secret
matches, so a caller of the gRPC port (or of the in-process socket) who writes the same keys gains nothing.
"""

from __future__ import annotations

import hmac
import secrets
import ssl
from collections.abc import Iterable
from typing import Any

__all__ = ["Handoff", "certificate_identity"]

IDENTITY_KEY = "ocr-http-client-identity"
SECRET_KEY = "ocr-http-handoff"


class Handoff:
    """Writes and checks the in-process identity hand-off; one per server."""

    def __init__(self) -> None:
        self._secret = secrets.token_hex(32)

    def metadata(self, identity: str) -> tuple[tuple[str, str], ...]:
        """The metadata that carries ``identity`` to AuthInterceptor."""
        return ((IDENTITY_KEY, identity), (SECRET_KEY, self._secret))

    def __call__(self, metadata: Iterable[tuple[str, Any]]) -> str | None:
        """The handed-off identity in a call's metadata, or None when there is none or the secret is wrong."""
        identity = secret = None
        for key, value in metadata:
            text = value if isinstance(value, str) else bytes(value).decode(errors="replace")
            if key == IDENTITY_KEY:
                identity = text
            elif key == SECRET_KEY:
                secret = text
        if identity is None or secret is None or not hmac.compare_digest(secret, self._secret):
            return None
        return identity


def certificate_identity(ssl_object: ssl.SSLObject | None) -> str | None:
    """A verified client certificate's identity as the gRPC port names it (server.security.auth): its SPIFFE ID,
    else its first URI SAN, else its subject's CN."""
    if ssl_object is None:
        return None
    cert: dict[str, Any] | None = ssl_object.getpeercert()
    if not cert:
        return None
    uris = [str(value) for kind, value in cert.get("subjectAltName", ()) if kind == "URI"]
    spiffe = [u for u in uris if u.startswith("spiffe://")]
    if spiffe or uris:
        return (spiffe or uris)[0]
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
