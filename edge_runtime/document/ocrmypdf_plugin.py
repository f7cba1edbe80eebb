"""OCRmyPDF plugin: ``ocrmypdf --plugin edge_runtime.document.ocrmypdf_plugin in.pdf out.pdf`` reads with our models.

OCRmyPDF keeps doing what it does (rasterising, PDF/A, optimising, grafting the text layer onto the original
pages); this plugin replaces its OCR engine. Each page image is read in process (``OcrEngine``, loaded once per
worker process) or by a server (``--edge-ocr-target host:port``), laid out into blocks, paragraphs, lines and
words (``layout.build_page``) and handed back as hOCR written by our own writer (``export.hocr.to_hocr``), which
OCRmyPDF's hOCR parser reads and its fpdf2 renderer turns into the invisible text layer. hOCR rather than a text-only
PDF: OCRmyPDF's default renderer takes hOCR, and its ``--pdf-renderer sandwich`` (the only caller of a text-only
PDF) is refused with a reason. Page orientation (``--rotate-pages``) and skew (``--deskew``) come from the
direction of the lines the engine read.

The built-in Tesseract plugin is blocked when this one loads (its option hooks alone are kept: OCRmyPDF's own checks
read its options), so Tesseract need not be installed.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from collections.abc import Set
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pluggy
from ocrmypdf import OcrOptions, hookimpl
from ocrmypdf.exceptions import BadArgsError, MissingDependencyError, SubprocessOutputError
from ocrmypdf.pluginspec import OcrEngine, OrientationConfidence
from pydantic import BaseModel

from edge_runtime.config import BACKENDS, DEVICES, PRECISIONS, EngineConfig, from_env
from edge_runtime.document.export.hocr import to_hocr
from edge_runtime.document.export.text import to_text
from edge_runtime.document.ocrmypdf_plugin_reader import (
    PageReadError,
    ReaderSettings,
    ServerSettings,
    check_server,
    creator,
    page_direction,
    read_page_image,
)
from edge_runtime.errors import ConfigurationError

__all__ = ["EdgeOcrEngine", "EdgeOcrOptions", "NAMESPACE"]

NAMESPACE = "edge_ocr"  # options.edge_ocr; command-line flags --edge-ocr-*
TESSERACT_PLUGIN = "ocrmypdf.builtin_plugins.tesseract_ocr"
TESSERACT_OPTIONS = "edge_ocr.tesseract_options"  # its option hooks alone, registered under this name
# OCRmyPDF's orientation confidence runs 0-15 (Tesseract's units) and turns a page at 14 or more. Ours is 15 when at
# least FULL_AGREEMENT of the page's text reads one way, less in proportion: 14 where 84% of it agrees.
ORIENTATION_SCALE = 15.0
FULL_AGREEMENT = 0.9


class EdgeOcrOptions(BaseModel):
    """The plugin's options (``--edge-ocr-<name>``, or ``edge_ocr_<name>=`` to ``ocrmypdf.ocr``); unset engine
    options fall back to the ``OCR_*`` environment variables and then ``EngineConfig``'s defaults."""

    target: str | None = None
    timeout: float = 120.0
    tls: bool = False
    server_name: str | None = None
    backend: str | None = None
    device: str | None = None
    precision: str | None = None
    bundle: str | None = None
    threads: int | None = None


def settings_of(options: OcrOptions) -> ReaderSettings:
    """The reader's settings from OCRmyPDF's options (credentials from ``OCR_TOKEN``, ``OCR_CA``, ``OCR_CERT``,
    ``OCR_KEY``, as ``ocr-client`` takes them: a flag would show in the process list)."""
    ours: EdgeOcrOptions = getattr(options, NAMESPACE)
    env = os.environ.get
    server = None
    if ours.target:
        server = ServerSettings(
            ours.target,
            ours.timeout,
            env("OCR_TOKEN") or None,
            env("OCR_CA") or None,
            env("OCR_CERT") or None,
            env("OCR_KEY") or None,
            ours.tls,
            ours.server_name,
        )
    threads = ours.threads
    if threads is None and not options.use_threads:  # worker processes: one engine each, sharing the cores
        threads = max(1, (os.cpu_count() or 1) // max(1, options.jobs or os.cpu_count() or 1))
    engine = from_env(
        EngineConfig,
        backend=ours.backend,
        device=ours.device,
        precision=ours.precision,
        bundle=ours.bundle,
        threads=threads,
    )
    return ReaderSettings(engine, server)


class EdgeOcrEngine(OcrEngine):
    """edge-ocr as OCRmyPDF's OCR engine: PP-OCR detection, angle classification and recognition, with layout."""

    @staticmethod
    def version() -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("edge-ocr")
        except PackageNotFoundError:
            return "unknown"

    @staticmethod
    def creator_tag(options: OcrOptions) -> str:
        return f"{creator(settings_of(options))}, version {EdgeOcrEngine.version()}"

    def __str__(self) -> str:
        return f"edge-ocr {self.version()}"

    @staticmethod
    def languages(options: OcrOptions) -> Set[str]:
        # The bundle reads one character set; an empty set tells OCRmyPDF not to check -l against a list.
        return set()

    @staticmethod
    def get_orientation(input_file: Path, options: OcrOptions) -> OrientationConfidence:
        rotation, agreement, _ = _read(page_direction, input_file, options)
        confidence = ORIENTATION_SCALE * min(1.0, agreement / FULL_AGREEMENT)
        return OrientationConfidence(angle=rotation, confidence=confidence)

    @staticmethod
    def get_deskew(input_file: Path, options: OcrOptions) -> float:
        # OCRmyPDF turns the image counterclockwise by this many degrees; text descending to the right is undone so.
        _, _, skew = _read(page_direction, input_file, options)
        return skew

    @staticmethod
    def generate_hocr(input_file: Path, output_hocr: Path, output_text: Path, options: OcrOptions) -> None:
        page = _read(read_page_image, input_file, options)
        output_hocr.write_text(to_hocr([page], image=input_file.name), encoding="utf-8")
        output_text.write_text(to_text([page]), encoding="utf-8")

    @staticmethod
    def generate_pdf(input_file: Path, output_pdf: Path, output_text: Path, options: OcrOptions) -> None:
        raise NotImplementedError("edge-ocr writes hOCR: use --pdf-renderer auto (fpdf2), not sandwich")


def _read(how: Any, input_file: Path, options: OcrOptions) -> Any:
    """``how(input_file, settings)``, a page that cannot be read ending the run with the reason."""
    try:
        return how(input_file, settings_of(options))
    except PageReadError as exc:
        raise SubprocessOutputError(f"edge-ocr could not read {input_file.name}: {exc}") from None


@hookimpl
def initialize(plugin_manager: pluggy.PluginManager) -> None:
    """This plugin replaces Tesseract, whose plugin would refuse to start without the ``tesseract`` program.

    It is blocked, and only its option hooks are registered again: OCRmyPDF's own option checks read
    ``options.tesseract`` whichever engine runs, so its option model and flags must stay.
    """
    tesseract = plugin_manager.get_plugin(TESSERACT_PLUGIN)
    if tesseract is None:
        return
    plugin_manager.set_blocked(TESSERACT_PLUGIN)
    plugin_manager.register(
        SimpleNamespace(register_options=tesseract.register_options, add_options=tesseract.add_options),
        name=TESSERACT_OPTIONS,
    )


@hookimpl
def register_options() -> dict[str, type[BaseModel]]:
    return {NAMESPACE: EdgeOcrOptions}


@hookimpl
def add_options(parser: ArgumentParser) -> None:
    group = parser.add_argument_group("edge-ocr", "OCR with edge-ocr's models, in process or on a server")
    group.add_argument(
        "--edge-ocr-target",
        metavar="HOST:PORT",
        help="read the pages on this edge-ocr server (credentials: OCR_TOKEN, OCR_CA, OCR_CERT, OCR_KEY); "
        "default: in process",
    )
    group.add_argument("--edge-ocr-timeout", type=float, default=120.0, help="per-page deadline on a server, seconds")
    group.add_argument("--edge-ocr-tls", action="store_true", help="TLS to the server with the system's CA roots")
    group.add_argument("--edge-ocr-server-name", help="name to check the server's certificate against")
    group.add_argument(
        "--edge-ocr-backend", choices=BACKENDS, help="in process: OpenVINO or ONNX Runtime (OCR_BACKEND)"
    )
    group.add_argument("--edge-ocr-device", choices=DEVICES, help="in process: where the models run (OCR_DEVICE)")
    group.add_argument(
        "--edge-ocr-precision", choices=PRECISIONS, help="in process: INT8 where it passed the gate, or FP32"
    )
    group.add_argument("--edge-ocr-bundle", help="in process: model bundle id (default: the manifest's)")
    group.add_argument("--edge-ocr-threads", type=int, help="in process: threads per engine (default: all cores)")


@hookimpl
def check_options(options: OcrOptions) -> None:
    if options.ocr_engine == "tesseract":
        raise BadArgsError("--ocr-engine tesseract: the edge-ocr plugin replaces Tesseract; run without --plugin")
    if options.pdf_renderer == "sandwich":
        raise BadArgsError("--pdf-renderer sandwich needs a text-only PDF; edge-ocr writes hOCR (use auto or fpdf2)")
    try:
        settings = settings_of(options)
    except ConfigurationError as exc:
        raise BadArgsError(f"edge-ocr: {exc}") from None
    if settings.server is not None and options.ocr_engine != "none":
        try:
            check_server(settings.server)
        except PageReadError as exc:
            raise MissingDependencyError(f"edge-ocr server {settings.server.target} is not serving: {exc}") from None
        except ImportError as exc:  # the client library needs grpcio
            raise MissingDependencyError(f"--edge-ocr-target needs grpcio: {exc}") from None


@hookimpl
def get_ocr_engine(options: OcrOptions | None) -> OcrEngine | None:
    if options is not None and options.ocr_engine == "none":
        return None  # OCRmyPDF's null engine: PDF/A or image processing without OCR
    return EdgeOcrEngine()
