"""Security of the gRPC server: TLS / mutual TLS, hashed bearer tokens with scopes, limits per principal, the
audit log and redaction, each an interceptor around the servicers in its own module (audit, auth, limits,
redaction); server/app.py puts them in order. ``Security`` builds them from a ServerConfig.

Servicers that need the caller (the fleet service) call ``principal_of(context)`` or ``ensure_self(context,
device_id)`` (server.security.call); methods of new services get their scope with ``register_method_scopes``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from edge_runtime.errors import ConfigurationError
from server.config import ServerConfig
from server.redact import Redactor
from server.scopes import METHOD_SCOPES, SCOPES, register_method_scopes
from server.security.audit import AuditInterceptor, AuditLog
from server.security.auth import AuthInterceptor
from server.security.call import ANONYMOUS, Principal, ensure_self, principal_of
from server.security.limits import LimitInterceptor
from server.security.redaction import RedactInterceptor
from server.security.tokens import Limits, TokenFile, hash_token

__all__ = [
    "Security",
    "Principal",
    "principal_of",
    "ensure_self",
    "register_method_scopes",
    "METHOD_SCOPES",
    "SCOPES",
    "ANONYMOUS",
    "hash_token",
    "Limits",
]

log = logging.getLogger(__name__)


def _read(path: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{what} {path}: {exc.strerror or exc}", "TLS_CONFIG_INVALID") from None
    if b"-----BEGIN" not in data:
        raise ConfigurationError(f"{what} {path} is not PEM", "TLS_CONFIG_INVALID")
    return data


@dataclass
class Security:
    """Everything the server needs to be secure, built from a ServerConfig (which is checked first)."""

    config: ServerConfig
    tokens: TokenFile | None
    audit: AuditLog
    auth: AuthInterceptor
    limits: LimitInterceptor
    redactor: Redactor

    @classmethod
    def from_config(cls, config: ServerConfig, max_image_pixels: Callable[[], int] = lambda: 40_000_000) -> Security:
        """``max_image_pixels``: the engine's limit (images over it are refused from their header and are not
        charged to the pixel rate)."""
        config.check_listen()
        tokens = TokenFile(config.tokens_file) if config.tokens_file else None
        defaults = Limits(
            config.calls_per_s, config.calls_burst, config.pixels_per_s, config.pixels_burst_s, config.max_streams
        )
        return cls(
            config,
            tokens,
            AuditLog(config.audit_log, config.audit_max_bytes, config.audit_keep),
            AuthInterceptor(
                tokens,
                bool(config.tls_client_ca),
                config.cert_scope_list,
                config.open_reflection,
                config.open_server_info,
            ),
            LimitInterceptor(defaults, tokens, max_image_pixels),
            Redactor(config.redact_kinds, config.redact_pattern_list),
        )

    def audit_interceptor(self, provenance: Callable[[], tuple[str, dict[str, str]]] | None = None) -> AuditInterceptor:
        """The audit layer; ``provenance`` names the bundle and precision in audit lines of calls whose responses
        do not (streams)."""
        return AuditInterceptor(self.audit, self.config.audit_text, provenance)

    def redact_interceptor(self) -> RedactInterceptor | None:
        """The redaction layer, or None when nothing is to be masked."""
        return RedactInterceptor(self.redactor) if self.redactor else None

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """TLS credentials (mutual when a client CA is set), or None for plain text."""
        c = self.config
        if not c.tls:
            return None
        pair = (_read(c.tls_key, "TLS key"), _read(c.tls_cert, "TLS certificate"))
        client_ca = _read(c.tls_client_ca, "client CA") if c.tls_client_ca else None
        return grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=bool(client_ca))

    def describe(self) -> list[str]:
        """Start-up log lines: what protects this server, and what does not."""
        c = self.config
        lines = [f"transport: {'mutual TLS' if c.tls_client_ca else 'TLS' if c.tls else 'plain text'}"]
        if self.tokens is not None:
            lines.append(f"tokens file {c.tokens_file} (re-read when it changes)")
        if not c.has_credentials:
            lines.append(
                f"no credentials configured: every caller is '{ANONYMOUS}' with every scope"
                + (" (--insecure: anyone who reaches the port)" if c.insecure else " (loopback only)")
            )
        elif self.tokens is not None and not c.tls:
            lines.append("WARNING: tokens travel in plain text (no --tls-cert)")
        lines.append(
            f"limits per principal: {c.calls_per_s:g} calls/s (burst {c.calls_burst:g}), "
            f"{c.pixels_per_s / 1e6:g} Mpx/s, {c.max_streams} streams (0: none)"
        )
        lines.append(f"audit: {c.audit_log or 'off (--audit-log)'}" + (" with text" if c.audit_text else ""))
        if self.redactor:
            lines.append(f"redacting: {', '.join(c.redact_kinds + ('patterns',) * bool(c.redact_pattern_list))}")
        return lines

    def close(self) -> None:
        self.audit.close()
