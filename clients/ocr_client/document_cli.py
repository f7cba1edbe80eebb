"""`ocr-client document IN --to FORMAT`: a PDF, a TIFF or an image read by the server, page by page.

The arguments, the output and the exit codes are those of the in-process `python -m edge_runtime document`:
`json` prints one line per page as it arrives (the proto3 JSON mapping of ocr.v1.Page); `text`, `md`, `hocr`,
`alto` and `pdf` are written by the server and streamed to -o OUT (or stdout; pdf needs -o) as they come. A page
that cannot be read is one line on stderr, `error: page N cannot be read [REASON]`, and exit code 1 once the rest
is written; a document that cannot be read (or a call that fails) is `error: <message> [REASON]` and exit code 2.
"""

from __future__ import annotations

import argparse
import codecs
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clients.ocr_client.client import OcrClient

__all__ = ["add_parser", "cmd_document", "TO"]

TO = ("json", "text", "md", "hocr", "alto", "pdf")


class _DocumentError(Exception):
    """A failure of the whole command with its stable reason (exit code 2)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class _Sink:
    """Standard output or the file OUT, opened at the first write, so a document that cannot be read leaves no
    file behind. Bytes go to a file as they are; to stdout through a UTF-8 decoder that keeps a character split
    between two chunks whole."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def write(self, data: bytes) -> None:
        if self.path is None:
            sys.stdout.write(self._decoder.decode(data))
            return
        if self._file is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("wb")
            except OSError as exc:
                raise self._unwritable(exc) from None
        try:
            self._file.write(data)
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> _DocumentError:
        return _DocumentError(f"cannot write {self.path}: {exc.strerror}", "OUTPUT_UNWRITABLE")

    def flush(self) -> None:
        (sys.stdout if self.path is None else self._file or sys.stdout).flush()

    def close(self) -> None:
        """Finish the output: the decoder's tail to stdout, or the file (created empty if nothing came)."""
        if self.path is None:
            sys.stdout.write(self._decoder.decode(b"", final=True))
            sys.stdout.flush()
            return
        if self._file is None:
            self.write(b"")
        assert self._file is not None
        self._file.close()


def add_parser(sub: Any, client_of: Callable[[argparse.Namespace], OcrClient]) -> None:
    """The `document` subcommand on the `ocr-client` parser."""
    p = sub.add_parser(
        "document",
        help="read a PDF, TIFF or image page by page: --to json|text|md|hocr|alto|pdf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, metavar="IN", help="a PDF, a TIFF or an image")
    p.add_argument("--to", required=True, choices=TO, help="output format")
    p.add_argument("-o", "--output", type=Path, metavar="OUT", help="output file (default: stdout; pdf needs it)")
    p.add_argument("--pages", default="", metavar="RANGES", help="pages to read, e.g. 1-3,7 or 10- (default: all)")
    p.add_argument("--text-layer", default="auto", choices=("auto", "ignore", "only"), help="use of a PDF's text layer")
    p.add_argument("--password", help="password of an encrypted PDF")
    p.add_argument(
        "--fields",
        default="",
        metavar="SETS",
        help="key field sets read from every page, comma list: receipt, invoice, form or a set of the server's "
        "fields file (in each page's `fields` / `key_values` of --to json)",
    )
    p.set_defaults(run=cmd_document, parser=p, client_of=client_of)  # the CLI's connection, from its flags


def _read(client: OcrClient, args: argparse.Namespace, sink: _Sink) -> list[int]:
    """Send the document, write what comes back; the numbers of the pages that could not be read."""
    from clients.ocr_client.documents import DocumentPage

    failed: list[int] = []
    try:
        results = client.recognize_document(
            args.input,
            pages=args.pages,
            text_layer=args.text_layer,
            password=args.password,
            formats=() if args.to == "json" else (args.to,),
            fields=[n.strip() for n in args.fields.split(",") if n.strip()],
            timeout=args.timeout,
        )
    except OSError as exc:
        raise _DocumentError(f"cannot read {args.input}: {exc.strerror}", "DOCUMENT_UNREADABLE") from None
    with results:
        for item in results:
            if not isinstance(item, DocumentPage):
                sink.write(item.content)
                continue
            if item.error is not None:
                failed.append(item.page_number)
                reason = item.error.reason or item.error.code.name
                print(f"error: page {item.page_number} cannot be read [{reason}]", file=sys.stderr)
            if args.to == "json":
                sink.write((json.dumps(item.to_dict(), ensure_ascii=False) + "\n").encode("utf-8"))
                sink.flush()
    sink.close()
    return failed


def cmd_document(args: argparse.Namespace) -> int:
    from clients.ocr_client.results import OcrCallError

    if args.to == "pdf" and args.output is None:
        args.parser.error("--to pdf needs -o OUT")
    try:
        with args.client_of(args) as client:
            failed = _read(client, args, _Sink(args.output))
    except OcrCallError as exc:
        print(f"error: {exc.message} [{exc.reason or exc.code.name}]", file=sys.stderr)
        return 2
    except _DocumentError as exc:
        print(f"error: {exc.message} [{exc.reason}]", file=sys.stderr)
        return 2
    return 1 if failed else 0
