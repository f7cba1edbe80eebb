"""The web console's static files (server/console), served at ``/`` with their content types, never outside it."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

__all__ = ["CONSOLE_DIR", "StaticFiles"]

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".map": "application/json",
}
_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cache-control": "no-cache"}


class StaticFiles:
    """Files of one directory by URL path: ``/`` is index.html, ``/console/x`` is the same file as ``/x``."""

    def __init__(self, root: Path = CONSOLE_DIR) -> None:
        self.root = root.resolve()

    def find(self, url_path: str) -> Path | None:
        """The file a GET of ``url_path`` (already percent-decoded) names, or None: hidden names, ``..``,
        backslashes and NULs never match, and the resolved file must lie inside the root (no symlink out)."""
        if url_path == "/console":
            url_path = "/"
        relative = url_path.removeprefix("/console/").lstrip("/") or "index.html"
        parts = relative.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
            return None
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def response(self, path: Path) -> web.FileResponse:
        kind = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return web.FileResponse(path, headers={**_HEADERS, "content-type": kind})
