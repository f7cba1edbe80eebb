"""A few lines of stdlib HTTP for the HTTP/JSON tests (no client library: what curl does)."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from server.config import ServerConfig
from server.embedded import ServerThread

__all__ = ["Answer", "free_port", "http", "http_server", "multipart"]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]

    @property
    def reason(self) -> str | None:
        return self.headers.get("ocr-error-reason")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_server(factory: Any, config: ServerConfig) -> ServerThread:
    """A ServerThread whose config has an HTTP port (a free one) unless it names one."""
    if not config.http_port:
        from dataclasses import replace

        config = replace(config, http_port=free_port())
    server = ServerThread(factory, config)
    scheme = "https" if config.tls else "http"
    server.http_base = f"{scheme}://{'localhost' if config.tls else '127.0.0.1'}:{server.server.http_port}"
    return server


def http(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 300,
) -> Answer:
    """One request; a dict or list body is sent as JSON."""
    headers = dict(headers or {})
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as f:
            return Answer(f.status, {k.lower(): v for k, v in f.headers.items()}, f.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def multipart(parts: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body from (name, filename, content type, data) parts, and its content type."""
    boundary = "edge-ocr-test-boundary-7d1f"
    out = b""
    for name, filename, kind, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {kind}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"
