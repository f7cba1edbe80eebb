"""The one writer of each output format from read pages, shared by `document` and `batch`, so both give the same
bytes for the same input: the document is read once and every format asked for is written from that one pass."""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from edge_runtime.document.export import EXTENSIONS
from edge_runtime.document.export.alto import to_alto
from edge_runtime.document.export.hocr import to_hocr
from edge_runtime.document.export.html import to_html
from edge_runtime.document.export.markdown import to_markdown
from edge_runtime.document.export.text import to_text
from edge_runtime.document.layout import confirm_running
from edge_runtime.document.reader import ReadPage
from edge_runtime.document.structure import Page
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.fields.model import Extraction
from edge_runtime.messages import page_json

__all__ = ["FORMATS", "TEXT_FORMATS", "EXTENSIONS", "open_text", "write_outputs", "add_reading_arguments"]

FORMATS = ("json", "text", "md", "html", "hocr", "alto", "pdf")
TEXT_FORMATS = FORMATS[:-1]  # written as UTF-8 text; pdf is binary
# need every page at once
_WHOLE = {"text": to_text, "md": to_markdown, "html": to_html, "hocr": to_hocr, "alto": to_alto}


def add_reading_arguments(parser: argparse.ArgumentParser, each: bool = False) -> None:
    """--pages, --text-layer and --password: how `document` reads its document and `batch` each of its (``each``)."""
    pages = "pages of each document, e.g. 1-3,7" if each else "pages to read, e.g. 1-3,7 or 10- (default: all)"
    parser.add_argument("--pages", default="", metavar="RANGES", help=pages)
    parser.add_argument(
        "--text-layer", default="auto", choices=[m.value for m in TextLayerMode], help="use of a PDF's text layer"
    )
    parser.add_argument("--password", help="password of encrypted PDFs" if each else "password of an encrypted PDF")


def open_text(path: Path) -> TextIO:
    """A text output file opened as every command opens it (UTF-8, no newline translation), so files match."""
    return path.open("w", encoding="utf-8", newline="")


def write_outputs(
    reads: Iterable[ReadPage],
    texts: Mapping[str, TextIO],
    pdf: BinaryIO | None = None,
    source: bytes | None = None,
    password: str | None = None,
    fields_of: Callable[[Page], Extraction] | None = None,
) -> None:
    """Write the pages of one document to every output: ``texts`` maps a format of TEXT_FORMATS to its stream,
    ``pdf`` is the searchable PDF's (``source``: the PDF's bytes when the document is one, so its pages are kept).

    `json` is written (and flushed) a line per page as each page is read; the PDF page by page, holding only the
    current page's image; text, md, hocr and alto once every page is read, with running headers and footers
    confirmed across the pages (only the structure is kept for them, not the images). ``fields_of`` gives the
    key fields each json line carries (none without it).
    """
    json_out = texts.get("json")
    whole = [fmt for fmt in texts if fmt != "json"]
    pages: list[Page] = []

    def passing() -> Iterator[ReadPage]:
        for read in reads:
            if json_out is not None:
                found = fields_of(read.page) if fields_of is not None else None
                json_out.write(json.dumps(page_json(read.page, fields=found), ensure_ascii=False) + "\n")
                json_out.flush()
            if whole:
                pages.append(read.page)
            yield read

    if pdf is not None:
        _write_pdf(passing(), pdf, source, password)
    else:
        for _ in passing():
            pass
    if whole:
        confirmed = confirm_running(pages)
        for fmt in whole:
            texts[fmt].write(_WHOLE[fmt](confirmed))


def _write_pdf(reads: Iterator[ReadPage], out: BinaryIO, source: bytes | None, password: str | None) -> None:
    """The searchable PDF, written as the pages are read: only the current page's image is held."""
    from edge_runtime.document.export.pdf import write_pdf

    current: dict[int, np.ndarray] = {}

    def pages() -> Iterator[Page]:
        for read in reads:
            current.clear()
            if read.image is not None:
                current[read.page.number] = read.image
            if read.page.error and source is None:
                continue  # no original page to copy and no image to draw: the page's error says so, left out
            yield read.page

    with warnings.catch_warnings():  # batch gives one password to all its PDFs: most need none, and that is fine
        warnings.filterwarnings("ignore", "A password was provided, but no password was needed")
        write_pdf(pages(), out, image_of=lambda page: current[page.number], source=source, password=password or "")
