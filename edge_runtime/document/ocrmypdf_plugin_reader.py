"""Page images read for the OCRmyPDF plugin: by the in-process engine or by a server, each opened once per process.

OCRmyPDF hands the plugin one page image file at a time, from worker threads (its default) or worker processes
(``--no-use-threads``). Loading the models, or opening a channel, for every page would cost more than reading it,
so both are kept per process, keyed by their settings; ``OcrEngine`` and ``OcrClient`` are thread-safe, so one
serves every worker thread. This module does not import OCRmyPDF: what it reads is our own page structure.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from edge_runtime.config import EngineConfig
from edge_runtime.document.layout import build_page
from edge_runtime.document.structure import Page, TextSource
from edge_runtime.errors import OcrError
from edge_runtime.types import TextLine, Word

__all__ = [
    "ServerSettings",
    "ReaderSettings",
    "PageReadError",
    "check_server",
    "read_page_image",
    "page_direction",
    "direction_of",
    "creator",
]

DEFAULT_DPI = 300.0  # a page image without a resolution: OCRmyPDF rasterises at 300 dpi or more


@dataclass(frozen=True)
class ServerSettings:
    """Where and how to reach a server (``clients.ocr_client.OcrClient``'s keywords); ``target`` host:port."""

    target: str
    timeout_s: float = 120.0
    token: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    tls: bool = False
    server_name: str | None = None


@dataclass(frozen=True)
class ReaderSettings:
    """Who reads the pages: a server when ``server`` is set, else the in-process engine with ``engine``."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    server: ServerSettings | None = None


class PageReadError(Exception):
    """A page image that could not be read: the engine's or the server's stable ``reason`` and its message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{message} [{reason}]")
        self.reason = reason


_lock = threading.Lock()
_engines: dict[EngineConfig, Any] = {}
_clients: dict[ServerSettings, Any] = {}


def _engine(config: EngineConfig) -> Any:
    """The process's engine for ``config``, loaded at its first page (the lock keeps threads from loading twice)."""
    with _lock:
        if config not in _engines:
            from edge_runtime.pipeline import OcrEngine

            _engines[config] = OcrEngine(config)
        return _engines[config]


def _client(server: ServerSettings) -> Any:
    """The process's client of ``server`` (one channel for all its worker threads); needs grpcio."""
    with _lock:
        if server not in _clients:
            from clients.ocr_client import OcrClient

            _clients[server] = OcrClient(
                server.target,
                timeout=server.timeout_s,
                ca=server.ca,
                cert=server.cert,
                key=server.key,
                token=server.token,
                tls=server.tls,
                server_name=server.server_name,
            )
        return _clients[server]


def check_server(server: ServerSettings) -> None:
    """Raise PageReadError unless ``server`` answers its health check as SERVING (before any page is rasterised)."""
    from clients.ocr_client import OcrCallError

    try:
        status = _client(server).health(timeout=min(server.timeout_s, 30.0))
    except OcrCallError as exc:
        raise PageReadError(exc.reason or exc.code.name, f"{server.target}: {exc.message}") from None
    if status != "SERVING":
        raise PageReadError("NOT_SERVING", f"{server.target} answers {status}")


def _lines(path: Path, settings: ReaderSettings) -> list[TextLine]:
    """The image's text lines, from the engine or the server (the server's converted to ours)."""
    if settings.server is None:
        try:
            return list(_engine(settings.engine).recognize(path).lines)
        except OcrError as exc:
            raise PageReadError(exc.reason, str(exc)) from None
    from clients.ocr_client import OcrCallError

    try:
        result = _client(settings.server).recognize(path)
    except OcrCallError as exc:
        raise PageReadError(exc.reason or exc.code.name, exc.message) from None
    except OSError as exc:
        raise PageReadError("IMAGE_UNREADABLE", f"{path}: {exc.strerror}") from None
    return [
        TextLine(
            line.text,
            line.confidence,
            tuple((p.x, p.y) for p in line.polygon),
            tuple(Word(w.text, w.confidence, tuple((p.x, p.y) for p in w.polygon)) for w in line.words),
            line.angle,
        )
        for line in result.lines
    ]


def _size_and_dpi(path: Path) -> tuple[int, int, float]:
    """Width and height in pixels, and the resolution OCRmyPDF wrote into the image (300 when it wrote none)."""
    with Image.open(path) as image:
        dpi = image.info.get("dpi")
        width, height = image.size
    resolution = float(dpi[0]) if isinstance(dpi, tuple) and dpi and dpi[0] else DEFAULT_DPI
    return width, height, resolution


def read_page_image(path: Path, settings: ReaderSettings) -> Page:
    """One page image read into our page structure (blocks in reading order, paragraphs, lines, words)."""
    width, height, dpi = _size_and_dpi(path)
    return build_page(_lines(path, settings), width, height, 1, TextSource.OCR, dpi)


def page_direction(path: Path, settings: ReaderSettings) -> tuple[int, float, float]:
    """``(rotation, agreement, skew)`` of the page image, from the lines read on it (``direction_of``)."""
    return direction_of(_lines(path, settings))


def direction_of(lines: Sequence[TextLine]) -> tuple[int, float, float]:
    """``(rotation, agreement, skew)`` of a page from its lines' reading directions.

    Each line's polygon runs clockwise from the text's top-left, so its first edge points where the line reads
    (the engine has already turned upside-down and sideways lines). Each line votes for its nearest quarter turn
    with its length times its recognition confidence (a line read in a wrong direction is read with little
    confidence). ``rotation`` is the winning quarter turn clockwise (0, 90, 180, 270: how far the page is turned),
    ``agreement`` the winner's share of the votes (0.0 with no lines; scaled down below three lines: a lone line may
    be a side label), ``skew`` the winners' mean direction off the quarter turn in degrees (positive: the text
    descends to the right).
    """
    votes = dict.fromkeys((0, 90, 180, 270), 0.0)
    edges: dict[int, list[tuple[float, float]]] = {turn: [] for turn in votes}
    for line in lines:
        if len(line.polygon) >= 2:
            (ax, ay), (bx, by) = line.polygon[0], line.polygon[1]
            turn = round(math.degrees(math.atan2(by - ay, bx - ax)) / 90.0) * 90 % 360
            votes[turn] += math.hypot(bx - ax, by - ay) * max(line.confidence, 0.0)
            edges[turn].append((bx - ax, by - ay))
    total = sum(votes.values())
    if not total:
        return 0, 0.0, 0.0
    rotation = max(votes, key=lambda turn: votes[turn])
    sx, sy = sum(x for x, _ in edges[rotation]), sum(y for _, y in edges[rotation])
    skew = (math.degrees(math.atan2(sy, sx)) - rotation + 180.0) % 360.0 - 180.0
    agreement = votes[rotation] / total * min(1.0, len(edges[rotation]) / 3)
    return rotation, agreement, skew


def creator(settings: ReaderSettings) -> str:
    """Who read the text, for the PDF's metadata: the server's address, or the bundle, backend and precision."""
    if settings.server is not None:
        return f"edge-ocr server {settings.server.target}"
    c = settings.engine
    return f"edge-ocr {c.bundle or 'default bundle'} ({c.backend}, {c.device}, precision {c.precision})"
