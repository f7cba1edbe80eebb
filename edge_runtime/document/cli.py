"""`python -m edge_runtime document IN --to FORMAT`: read a PDF, a TIFF or an image in process and write it out.

Formats: `json` (one line per page as soon as it is read: the proto3 JSON mapping of the ``ocr.v1.Page`` message,
as RecognizeDocument answers), `text`, `md`,
`hocr`, `alto` (to stdout or -o) and `pdf` (a searchable PDF, needs -o: a PDF's born-digital pages copied, its
scanned pages kept with the text layer laid over them; a TIFF's or an image's pages drawn from their images).
A PDF page is read from its own text layer where it can be trusted (--text-layer auto), never (ignore: always
OCR) or always (only: never OCR). Running headers and footers are confirmed across all pages for text, md, hocr
and alto; json streams each page's own guess. A document that cannot be read is one line on stderr,
`error: <message> [<REASON>]`, and exit code 2; a page that cannot be read is one such line (its output page is
empty) and exit code 1 once the others are written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np

from edge_runtime.arguments import OneLineParser, add_engine_arguments, engine_config
from edge_runtime.config import EngineConfig
from edge_runtime.document.export.alto import to_alto
from edge_runtime.document.export.hocr import to_hocr
from edge_runtime.document.export.markdown import to_markdown
from edge_runtime.document.export.text import to_text
from edge_runtime.document.layout import confirm_running
from edge_runtime.document.reader import ReadPage, read_opened
from edge_runtime.document.sources import DocumentKind, DocumentOptions, open_document
from edge_runtime.document.structure import Page
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.errors import InvalidDocumentError, OcrError
from edge_runtime.messages import page_json
from edge_runtime.types import OcrResult

__all__ = ["main", "FORMATS"]

FORMATS = ("json", "text", "md", "hocr", "alto", "pdf")
_WRITERS = {"text": to_text, "md": to_markdown, "hocr": to_hocr, "alto": to_alto}


class _LazyEngine:
    """The OCR engine, loaded at the first page that needs OCR: a born-digital PDF never loads the models."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._engine: object | None = None

    def recognize(self, image: np.ndarray) -> OcrResult:
        from edge_runtime.pipeline import OcrEngine

        if self._engine is None:
            self._engine = OcrEngine(self._config)
        assert isinstance(self._engine, OcrEngine)
        return self._engine.recognize(image)


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m edge_runtime document",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, metavar="IN", help="a PDF, a TIFF or an image")
    parser.add_argument("--to", required=True, choices=FORMATS, help="output format")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT", help="output file (default: stdout; pdf needs it)")
    parser.add_argument("--pages", default="", metavar="RANGES", help="pages to read, e.g. 1-3,7 or 10- (default: all)")
    parser.add_argument(
        "--text-layer", default="auto", choices=[m.value for m in TextLayerMode], help="use of a PDF's text layer"
    )
    parser.add_argument("--password", help="password of an encrypted PDF")
    add_engine_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.to == "pdf" and args.output is None:
        parser.error("--to pdf needs -o OUT")
    try:
        data = args.input.read_bytes()
    except OSError as exc:
        raise InvalidDocumentError(f"cannot read {args.input}: {exc.strerror}", "DOCUMENT_UNREADABLE") from None
    options = DocumentOptions(args.pages, TextLayerMode(args.text_layer), args.password)
    engine = _LazyEngine(engine_config(args))
    failed: list[int] = []
    with open_document(data, options) as document:
        reads = _reported(read_opened(document, engine, options.text_layer), failed)
        if args.to == "pdf":
            _write_pdf(reads, args.output, data if document.kind is DocumentKind.PDF else None, args.password)
        elif args.to == "json":
            with _output(args.output) as out:
                for read in reads:
                    out.write(json.dumps(page_json(read.page), ensure_ascii=False) + "\n")
                    out.flush()
        else:
            pages = confirm_running([read.page for read in reads])  # the structure only: the images are gone
            with _output(args.output) as out:
                out.write(_WRITERS[args.to](pages))
    return 1 if failed else 0


def _reported(reads: Iterator[ReadPage], failed: list[int]) -> Iterator[ReadPage]:
    """The reads, each failed page named on stderr (and in ``failed``) as it passes."""
    for read in reads:
        if read.page.error:
            failed.append(read.page.number)
            print(f"error: page {read.page.number} cannot be read [{read.page.error}]", file=sys.stderr)
        yield read


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """Standard output, or the file ``path`` (an unwritable one is OUTPUT_UNWRITABLE)."""
    if path is None:
        yield sys.stdout
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # like recognize --draw: -o out/x.md makes out/
        file = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise OcrError(f"cannot write {path}: {exc.strerror}", "OUTPUT_UNWRITABLE") from None
    with file:
        yield file


def _write_pdf(reads: Iterator[ReadPage], out: Path, source: bytes | None, password: str | None) -> None:
    """The searchable PDF, written as the pages are read: only the current page's image is held."""
    from edge_runtime.document.export.pdf import write_pdf

    current: dict[int, np.ndarray] = {}

    def pages() -> Iterator[Page]:
        for read in reads:
            current.clear()
            if read.image is not None:
                current[read.page.number] = read.image
            if read.page.error and source is None:
                continue  # no original page to copy and no image to draw: named on stderr, left out
            yield read.page

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_pdf(pages(), out, image_of=lambda page: current[page.number], source=source, password=password or "")
    except OSError as exc:
        raise OcrError(f"cannot write {out}: {exc.strerror}", "OUTPUT_UNWRITABLE") from None
