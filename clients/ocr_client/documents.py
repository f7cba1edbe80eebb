"""RecognizeDocument in the Python client: the file goes out in chunks after its options; pages and output files
come back as they arrive, so neither side ever holds a long document or its searchable PDF whole.

    with client.recognize_document("contract.pdf", formats=["pdf"]) as results:
        for page in results.pages(outputs={"pdf": "contract.ocr.pdf"}):  # the PDF written chunk by chunk
            print(page.page_number, page.error.reason if page.error else page.text[:40])

Iterating a ``DocumentResults`` yields ``DocumentPage`` (in page order, each as soon as the server has read it)
and then ``OutputChunk`` (the files asked for in ``formats``, in that order). Closing it, or leaving its
``with`` block, cancels the call, and the server stops reading. A document that cannot be opened fails the call
with ``OcrCallError``; a page that cannot be read has ``error`` set and the other pages still come.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import grpc

from clients.ocr_client.messages import ocr_pb2
from clients.ocr_client.results import (
    Block,
    KeyField,
    KeyValue,
    OcrCallError,
    Provenance,
    StageTimings,
    TextLine,
    blocks,
    enum_name,
    item_error,
    key_fields,
    key_values,
    provenance_of,
    stage_timings,
    to_dict,
)

__all__ = [
    "DocumentPage",
    "OutputChunk",
    "DocumentResults",
    "DocumentLike",
    "FORMATS",
    "TEXT_LAYER_MODES",
    "DEFAULT_CHUNK_BYTES",
    "output_format",
    "document_requests",
]

DocumentLike = bytes | bytearray | memoryview | str | Path | BinaryIO
# The --to names of the command lines (json is the pages themselves, no output file).
FORMATS: dict[str, ocr_pb2.OutputFormat] = {
    "text": ocr_pb2.OUTPUT_FORMAT_TEXT,
    "md": ocr_pb2.OUTPUT_FORMAT_MARKDOWN,
    "hocr": ocr_pb2.OUTPUT_FORMAT_HOCR,
    "alto": ocr_pb2.OUTPUT_FORMAT_ALTO,
    "pdf": ocr_pb2.OUTPUT_FORMAT_PDF,
    "html": ocr_pb2.OUTPUT_FORMAT_HTML,
}
TEXT_LAYER_MODES: dict[str, ocr_pb2.TextLayerMode] = {
    "auto": ocr_pb2.TEXT_LAYER_MODE_AUTO,
    "ignore": ocr_pb2.TEXT_LAYER_MODE_IGNORE,
    "only": ocr_pb2.TEXT_LAYER_MODE_ONLY,
}
# Well under any server's message limit (gRPC's default is 4 MiB), large enough that framing costs nothing.
DEFAULT_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DocumentPage:
    """One read page: its blocks in reading order (running headers, footers and page numbers marked by ``kind``),
    ``text`` the flow's paragraphs, ``text_source`` (TEXT_SOURCE_* name) where the text came from, ``dpi`` the
    resolution a PDF page was rendered at (0 for an image). A page that cannot be read has ``error`` set and is
    otherwise empty. ``provenance`` is set on the call's first response only (also ``DocumentResults.provenance``).
    """

    page_number: int
    width: int
    height: int
    dpi: float
    text_source: str
    text: str
    blocks: tuple[Block, ...]
    error: OcrCallError | None
    timings: StageTimings | None
    provenance: Provenance | None = None
    fields: tuple[KeyField, ...] = ()  # of the sets asked in ``fields``
    key_values: tuple[KeyValue, ...] = ()  # form pairs, when the ``form`` set was asked
    message: Any = field(default=None, repr=False, compare=False)  # the ocr.v1.Page

    @property
    def lines(self) -> tuple[TextLine, ...]:
        """Every line of the page in reading order, block by block."""
        return tuple(line for block in self.blocks for paragraph in block.paragraphs for line in paragraph.lines)

    def to_dict(self) -> dict[str, Any]:
        """The proto3 JSON mapping of the ocr.v1.Page: one line of ``document --to json``."""
        return to_dict(self.message)


@dataclass(frozen=True)
class OutputChunk:
    """The next bytes of an output file: ``format`` its --to name (text, md, hocr, alto, pdf); ``last`` on the
    file's last chunk."""

    format: str
    content: bytes
    last: bool


_NAMES: dict[int, str] = {number: name for name, number in FORMATS.items()}


def output_format(value: str | int) -> ocr_pb2.OutputFormat:
    """An OutputFormat from a --to name (``pdf``), an enum name (``OUTPUT_FORMAT_PDF``) or a number."""
    if isinstance(value, int):
        if value not in _NAMES:
            raise ValueError(f"unknown output format {value}")
        value = ocr_pb2.OutputFormat.Name(value)
    if value in FORMATS:
        return FORMATS[value]
    if value in ocr_pb2.OutputFormat.keys() and value != "OUTPUT_FORMAT_UNSPECIFIED":  # noqa: SIM118 - an enum
        return cast(ocr_pb2.OutputFormat, ocr_pb2.OutputFormat.Value(value))
    raise ValueError(f"unknown output format {value!r}; choose one of {', '.join(FORMATS)}")


def _text_layer(value: str | int) -> ocr_pb2.TextLayerMode:
    if isinstance(value, int):
        value = ocr_pb2.TextLayerMode.Name(value)
    if value.lower() in TEXT_LAYER_MODES:
        return TEXT_LAYER_MODES[value.lower()]
    if value in ocr_pb2.TextLayerMode.keys():  # noqa: SIM118 - an enum wrapper, not a dict
        return cast(ocr_pb2.TextLayerMode, ocr_pb2.TextLayerMode.Value(value))
    raise ValueError(f"unknown text layer mode {value!r}; choose one of {', '.join(TEXT_LAYER_MODES)}")


def _open(document: DocumentLike) -> tuple[bytes | IO[bytes], int]:
    """The document as bytes or an open binary file, and its size in bytes (0: unknown). A path is opened here,
    so a missing file fails before the call starts."""
    if isinstance(document, (bytes, bytearray, memoryview)):
        data = bytes(document)
        return data, len(data)
    if isinstance(document, (str, Path)):
        file = open(document, "rb")  # noqa: SIM115 - closed by _chunks once sent
        return file, os.fstat(file.fileno()).st_size
    size = 0
    if document.seekable():
        here = document.tell()
        size = document.seek(0, os.SEEK_END) - here
        document.seek(here)
    return document, size


def _chunks(source: bytes | IO[bytes], chunk_bytes: int, owned: bool) -> Iterator[bytes]:
    if isinstance(source, bytes):
        view = memoryview(source)
        for start in range(0, len(view), chunk_bytes):
            yield bytes(view[start : start + chunk_bytes])
        return
    try:
        while chunk := source.read(chunk_bytes):
            yield chunk
    finally:
        if owned:
            source.close()


def document_requests(
    document: DocumentLike,
    *,
    pages: str = "",
    text_layer: str | int = "auto",
    password: str | None = None,
    formats: Iterable[str | int] = (),
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    fields: Iterable[str] = (),
) -> Iterator[ocr_pb2.RecognizeDocumentRequest]:
    """The requests of one call: ``options`` first, then the file in chunks of at most ``chunk_bytes``, read
    from a path or file only as gRPC sends them. Bad arguments and an unreadable path fail here, before a call."""
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    options = ocr_pb2.DocumentOptions(
        pages=pages,
        text_layer=_text_layer(text_layer),
        password=password or "",
        formats=[output_format(f) for f in formats],
        fields=list(fields),
    )
    source, size = _open(document)
    options.total_bytes = size
    owned = isinstance(document, (str, Path))

    def requests() -> Iterator[ocr_pb2.RecognizeDocumentRequest]:
        yield ocr_pb2.RecognizeDocumentRequest(options=options)
        for chunk in _chunks(source, chunk_bytes, owned):
            yield ocr_pb2.RecognizeDocumentRequest(chunk=chunk)

    return requests()


def document_page(page: Any, provenance: Provenance | None = None) -> DocumentPage:
    """A DocumentPage from an ocr.v1.Page."""
    return DocumentPage(
        page_number=page.page_number,
        width=page.width,
        height=page.height,
        dpi=page.dpi,
        text_source=enum_name(page, "TextSource", page.text_source),
        text=page.text,
        blocks=blocks(page),
        error=item_error(page),
        timings=stage_timings(page),
        provenance=provenance,
        fields=key_fields(page),
        key_values=key_values(page),
        message=page,
    )


class DocumentResults(Iterator[DocumentPage | OutputChunk]):
    """The answer of one RecognizeDocument call, read as it arrives: pages, then output chunks.

    Iterate it, or use ``pages(outputs=...)`` to have the output files written as their chunks arrive, or
    ``collect()`` for everything at once (small documents). ``close()`` (or the end of a ``with`` block)
    cancels the call; a failed call raises ``OcrCallError`` from the iteration.
    """

    def __init__(self, call: Any, formats: Iterable[int] = ()) -> None:
        self._finished = False
        self._call = call
        self._responses = iter(call)
        self.formats = tuple(_NAMES[f] for f in formats)  # the --to names asked for, in order
        self.provenance: Provenance | None = None  # of the first response, once it came

    def __iter__(self) -> DocumentResults:
        return self

    def __next__(self) -> DocumentPage | OutputChunk:
        if self._finished:
            raise StopIteration
        try:
            response = next(self._responses)
        except StopIteration:
            self._finished = True
            raise
        except grpc.RpcError as error:
            self._finished = True
            raise OcrCallError.from_rpc_error(error) from None
        provenance = provenance_of(response)
        if provenance is not None and self.provenance is None:
            self.provenance = provenance
        if response.WhichOneof("response") == "output":
            out = response.output
            return OutputChunk(_NAMES.get(out.format, str(out.format)), out.content, out.last)
        return document_page(response.page, provenance)

    def close(self) -> None:
        """Cancel the call if it is still going (the server stops reading); nothing more is yielded."""
        if not self._finished:
            self._finished = True
            self._call.cancel()

    cancel = close

    def __enter__(self) -> DocumentResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def pages(self, outputs: Mapping[str | int, str | Path | IO[bytes]] | None = None) -> Iterator[DocumentPage]:
        """The pages as they arrive, each output file written to ``outputs[format]`` (a path, opened at its first
        chunk and closed at its last, or a binary file left open) chunk by chunk: nothing is held whole. Every
        format asked for needs a place; the files are complete once this iterator is exhausted. Leaving it early
        cancels the call."""
        sinks = {_NAMES[output_format(key)]: value for key, value in (outputs or {}).items()}
        missing = [name for name in self.formats if name not in sinks]
        if missing:
            self.close()
            raise ValueError(f"no place given to write the {', '.join(missing)} output")
        with ExitStack() as stack:
            stack.callback(self.close)  # runs last: a no-op once every response came
            opened: dict[str, IO[bytes]] = {}
            for item in self:
                if isinstance(item, DocumentPage):
                    yield item
                    continue
                sink = sinks.get(item.format)
                if sink is None:
                    continue  # a format the server sent unasked: nowhere to put it
                if isinstance(sink, (str, Path)):
                    if item.format not in opened:
                        opened[item.format] = stack.enter_context(open(sink, "wb"))
                    out = opened[item.format]
                else:
                    out = sink
                out.write(item.content)
                if item.last and isinstance(sink, (str, Path)):
                    opened[item.format].close()

    def collect(self) -> tuple[list[DocumentPage], dict[str, bytes]]:
        """Everything at once: the pages and each output file whole, by --to name."""
        pages: list[DocumentPage] = []
        files: dict[str, bytearray] = {}
        for item in self:
            if isinstance(item, DocumentPage):
                pages.append(item)
            else:
                files.setdefault(item.format, bytearray()).extend(item.content)
        return pages, {name: bytes(content) for name, content in files.items()}
