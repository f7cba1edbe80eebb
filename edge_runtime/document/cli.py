"""`python -m edge_runtime document IN --to FORMAT`: read a PDF, a TIFF or an image in process and write it out.

Formats: `json` (one line per page as soon as it is read: the proto3 JSON mapping of the ``ocr.v1.Page`` message,
as RecognizeDocument answers), `text`, `md`,
`hocr`, `alto` (to stdout or -o) and `pdf` (a searchable PDF, needs -o: a PDF's born-digital pages copied, its
scanned pages kept with the text layer laid over them; a TIFF's or an image's pages drawn from their images).
`--fields receipt,form` adds key fields and form pairs to each json line (`--fields-file`: users' own sets).
A PDF page is read from its own text layer where it can be trusted (--text-layer auto), never (ignore: always
OCR) or always (only: never OCR). Running headers and footers are confirmed across all pages for text, md, hocr
and alto; json streams each page's own guess. A document that cannot be read is one line on stderr,
`error: <message> [<REASON>]`, and exit code 2; a page that cannot be read is one such line (its output page is
empty) and exit code 1 once the others are written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from edge_runtime.arguments import OneLineParser, add_engine_arguments, engine_config
from edge_runtime.document.layout_model import load_layout_model
from edge_runtime.document.lazy import LazyEngine
from edge_runtime.document.outputs import FORMATS, add_reading_arguments, open_text, write_outputs
from edge_runtime.document.reader import ReadPage, read_opened
from edge_runtime.document.sources import DocumentKind, DocumentOptions, open_document
from edge_runtime.document.structure import Page
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.errors import InvalidDocumentError, OcrError
from edge_runtime.fields.model import Extraction

__all__ = ["main", "FORMATS"]


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m edge_runtime document",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, metavar="IN", help="a PDF, a TIFF or an image")
    parser.add_argument("--to", required=True, choices=FORMATS, help="output format")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT", help="output file (default: stdout; pdf needs it)")
    add_reading_arguments(parser)
    parser.add_argument(
        "--fields",
        default="",
        metavar="SETS",
        help="key field sets in --to json: receipt, invoice, form, or a set of --fields-file (comma list)",
    )
    parser.add_argument("--fields-file", type=Path, metavar="TOML", help="users' own field sets (docs/fields.md)")
    parser.add_argument(
        "--layout", action="store_true", help="layout regions: block kinds (table, figure, caption, ...) and tables"
    )
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
    fields_of = _fields_of(args.fields, args.fields_file)  # a bad fields file or set fails before any reading
    options = DocumentOptions(args.pages, TextLayerMode(args.text_layer), args.password, layout=args.layout)
    layout = load_layout_model() if options.layout else None
    engine = LazyEngine(engine_config(args))
    failed: list[int] = []
    with open_document(data, options) as document:
        reads = _reported(read_opened(document, engine, options.text_layer, layout=layout), failed)
        source = data if document.kind is DocumentKind.PDF else None
        try:
            if args.to == "pdf":
                args.output.parent.mkdir(parents=True, exist_ok=True)
                with args.output.open("wb") as pdf:
                    write_outputs(reads, {}, pdf=pdf, source=source, password=args.password)
            else:
                with _output(args.output) as out:
                    write_outputs(reads, {args.to: out}, fields_of=fields_of)
        except BrokenPipeError:
            raise  # the reader of stdout went away: not an unwritable file
        except OSError as exc:
            raise OcrError(f"cannot write {args.output}: {exc.strerror}", "OUTPUT_UNWRITABLE") from None
    return 1 if failed else 0


def _fields_of(names: str, fields_file: Path | None) -> Callable[[Page], Extraction] | None:
    """What finds the asked field sets on a page, or None when none is asked."""
    from edge_runtime.fields import check_sets, extract, load_fields_file, page_lines

    user = load_fields_file(fields_file) if fields_file else {}
    asked = check_sets(names.split(","), user)
    if not asked:
        return None
    return lambda page: extract(page_lines(page), asked, user)


def _reported(reads: Iterator[ReadPage], failed: list[int]) -> Iterator[ReadPage]:
    """The reads, each failed page named on stderr (and in ``failed``) as it passes."""
    for read in reads:
        if read.page.error:
            failed.append(read.page.number)
            print(f"error: page {read.page.number} cannot be read [{read.page.error}]", file=sys.stderr)
        yield read


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """Standard output, or the text file ``path``."""
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)  # like recognize --draw: -o out/x.md makes out/
    with open_text(path) as file:
        yield file
