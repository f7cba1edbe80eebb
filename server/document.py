"""RecognizeDocument: a document in (its options, then its bytes in chunks), its pages out in page order, each as
soon as it is read, then the output files asked for, chunk by chunk.

The reading is the runtime's own (``edge_runtime.document``: the reader behind ``python -m edge_runtime
document``), on a worker thread, one page image in memory at a time; a page's OCR goes through the data plane
(``OcrPlane.recognize``), so it takes its turn and shares batches with every other call, and is charged to the
memory budget at its rendered size like any image (``server.memory_budget``; the file's own bytes stay under
``document_memory``). PDFium is not thread-safe:
``edge_runtime.document.sources`` serializes every call into it, so documents read at once interleave page by page.

Failures: a broken contract (no options first, options twice, an unknown output format) or a document that cannot
be opened at all (not a PDF, TIFF or image; encrypted; over the size or page limits; a bad page range) ends the
call with INVALID_ARGUMENT and its reason before any page. A page that cannot be read answers with its ``error``
and the next page is still read. Cancelling the call stops the reading after the page in progress; a deadline that
passes stops it before the next page (DEADLINE_EXCEEDED).

Redaction masks a page's text before it is converted or written (``server.redact.redact_page``), so the pages and
the text files agree. A searchable PDF carries the pages themselves (their scans, a born-digital page's own text),
which no text mask reaches: a server that redacts refuses it (FAILED_PRECONDITION ``OUTPUT_NOT_REDACTABLE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clients.ocr_client.pb import ocr_pb2
from edge_runtime.document.layout_model import shared_layout_model
from edge_runtime.document.limits import DocumentLimits, parse_page_ranges
from edge_runtime.document.outputs import open_text, write_outputs
from edge_runtime.document.reader import ReadPage, read_opened
from edge_runtime.document.sources import DocumentKind, DocumentOptions, open_document
from edge_runtime.document.structure import Page
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.errors import ConfigurationError, DeadlineExceededError, InvalidDocumentError
from edge_runtime.fields import check_sets, extract, page_lines
from edge_runtime.messages import page_message, provenance_message
from edge_runtime.types import OcrResult, RawImage
from server.errors import InvalidRequestError
from server.plane import OcrPlane
from server.redact import Redactor, redact_page

__all__ = ["recognize_document", "DocumentRequest", "receive_document", "OUTPUT_CHUNK_BYTES"]

OUTPUT_CHUNK_BYTES = 1024 * 1024  # an output file goes out in chunks of this size, far below any message limit
PAGES_AHEAD = 4  # pages read but not yet sent: the reading waits for a slow caller instead of piling up pages
# OutputFormat -> the format's name in edge_runtime.document.outputs (the writers `document` and `batch` use)
_FORMAT_NAMES: dict[int, str] = {
    ocr_pb2.OUTPUT_FORMAT_TEXT: "text",
    ocr_pb2.OUTPUT_FORMAT_MARKDOWN: "md",
    ocr_pb2.OUTPUT_FORMAT_HOCR: "hocr",
    ocr_pb2.OUTPUT_FORMAT_ALTO: "alto",
    ocr_pb2.OUTPUT_FORMAT_PDF: "pdf",
    ocr_pb2.OUTPUT_FORMAT_HTML: "html",
}
_MODES = {
    ocr_pb2.TEXT_LAYER_MODE_UNSPECIFIED: TextLayerMode.AUTO,
    ocr_pb2.TEXT_LAYER_MODE_AUTO: TextLayerMode.AUTO,
    ocr_pb2.TEXT_LAYER_MODE_IGNORE: TextLayerMode.IGNORE,
    ocr_pb2.TEXT_LAYER_MODE_ONLY: TextLayerMode.ONLY,
}


@dataclass(frozen=True)
class DocumentRequest:
    """A whole RecognizeDocument request: what to do, and the file."""

    options: DocumentOptions
    formats: tuple[int, ...]  # OutputFormat values, each once, in the order asked
    data: bytes
    fields: tuple[str, ...] = ()  # key field sets asked for every page (edge_runtime.fields)


async def receive_document(
    requests: AsyncIterator, max_bytes: int, take: Callable[[int], None] = lambda size: None
) -> DocumentRequest:
    """The options (first request) and the file (every later one), checked as they arrive: a file over
    ``max_bytes`` is refused as soon as its declared size or its chunks say so, not after it is all in memory.
    ``take(n)`` charges each chunk to the server's memory budget for documents (``OcrPlane.document_memory``)."""
    first = await anext(aiter(requests), None)
    if first is None or first.WhichOneof("request") != "options":
        raise InvalidRequestError("the first RecognizeDocumentRequest must carry `options`", "DOCUMENT_OPTIONS_MISSING")
    options = first.options
    if options.text_layer not in _MODES:
        raise InvalidRequestError(f"text_layer {options.text_layer} is not a TextLayerMode", "TEXT_LAYER_INVALID")
    formats: list[int] = []
    for value in options.formats:
        if value not in _FORMAT_NAMES:
            raise InvalidRequestError(f"output format {value} is not one of OutputFormat's", "OUTPUT_FORMAT_INVALID")
        if value not in formats:
            formats.append(value)
    parse_page_ranges(options.pages)  # PAGE_RANGE_INVALID before the file is sent
    if options.total_bytes > max_bytes:
        raise _too_large(options.total_bytes, max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for request in requests:
        kind = request.WhichOneof("request")
        if kind == "options":
            raise InvalidRequestError(
                "only the first RecognizeDocumentRequest may carry `options`", "DOCUMENT_OPTIONS_REPEATED"
            )
        if kind != "chunk":
            raise InvalidRequestError("request has neither options nor chunk", "DOCUMENT_CHUNK_MISSING")
        size += len(request.chunk)
        if size > max_bytes:
            raise _too_large(size, max_bytes)
        take(len(request.chunk))
        chunks.append(request.chunk)
    data = b"".join(chunks)
    chunks.clear()
    mode = _MODES[options.text_layer]
    document_options = DocumentOptions(options.pages, mode, options.password or None, layout=options.layout)
    return DocumentRequest(document_options, tuple(formats), data, tuple(options.fields))


def _too_large(size: int, limit: int) -> InvalidDocumentError:
    return InvalidDocumentError(f"document is {size:,} bytes, over the limit of {limit:,}", "DOCUMENT_TOO_LARGE")


@dataclass
class _PageTimings:
    """The OCR stages' milliseconds of one page, summed over its OCR calls (a MIXED page makes one per area)."""

    ms: dict[str, float] = field(default_factory=dict)

    def add(self, result: OcrResult) -> None:
        for stage, value in result.timings_ms.items():
            if stage != "total":
                self.ms[stage] = self.ms.get(stage, 0.0) + value


class _StoppedError(Exception):
    """The call went away: the worker stops after the page in progress."""


class _PlaneRecognizer:
    """The reader's Recognizer on the data plane: called on the worker thread, runs on the event loop."""

    def __init__(self, plane: OcrPlane, loop: asyncio.AbstractEventLoop, deadline: float | None, stop: threading.Event):
        self.plane, self.loop, self.deadline, self.stop = plane, loop, deadline, stop
        self.timings = _PageTimings()

    def recognize(self, image: np.ndarray) -> OcrResult:
        if self.stop.is_set():
            raise _StoppedError
        pixels = np.ascontiguousarray(image)
        gray = pixels.ndim == 2
        raw = RawImage(pixels.tobytes(), pixels.shape[1], pixels.shape[0], "GRAY8" if gray else "BGR8")
        future = asyncio.run_coroutine_threadsafe(self.plane.recognize(raw, False, self.deadline), self.loop)
        while True:
            try:
                result = future.result(timeout=0.25)
                break
            except TimeoutError:
                if self.stop.is_set():
                    future.cancel()
                    raise _StoppedError from None
        self.timings.add(result)
        return result


class _Reading:
    """One document read on a worker thread; pages handed to the event loop through a queue, at most
    ``PAGES_AHEAD`` of them waiting; the output files written into ``scratch`` as the pages pass."""

    def __init__(
        self,
        request: DocumentRequest,
        limits: DocumentLimits,
        recognizer: _PlaneRecognizer,
        redactor: Redactor | None,
        scratch: Path,
    ) -> None:
        self.request, self.limits, self.recognizer, self.redactor = request, limits, recognizer, redactor
        self.files = {fmt: scratch / f"out.{_FORMAT_NAMES[fmt]}" for fmt in request.formats}
        self.loop = recognizer.loop
        self.queue: asyncio.Queue[tuple[Page, dict[str, float]] | None] = asyncio.Queue()
        self.room = threading.Semaphore(PAGES_AHEAD)

    def run(self) -> None:
        """On the worker thread: read every page, hand each over and write the files (the document's one pass,
        through the writers `document` and `batch` use); the queue's None says the reading ended."""
        try:
            request = self.request
            with open_document(request.data, request.options, self.limits) as document, contextlib.ExitStack() as files:
                texts = {
                    _FORMAT_NAMES[fmt]: files.enter_context(open_text(path))
                    for fmt, path in self.files.items()
                    if fmt != ocr_pb2.OUTPUT_FORMAT_PDF
                }
                pdf_path = self.files.get(ocr_pb2.OUTPUT_FORMAT_PDF)
                pdf = files.enter_context(pdf_path.open("wb")) if pdf_path is not None else None
                source = request.data if document.kind is DocumentKind.PDF else None
                layout = shared_layout_model() if request.options.layout else None
                reads = read_opened(document, self.recognizer, request.options.text_layer, layout=layout)
                write_outputs(self._pages(reads), texts, pdf, source, request.options.password)
        finally:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, None)

    def _pages(self, reads: Iterator[ReadPage]) -> Iterator[ReadPage]:
        """The reads, each page (redacted) handed to the loop as it passes, with its timings."""
        recognizer = self.recognizer
        started = time.perf_counter()
        for read in reads:
            page = redact_page(read.page, self.redactor) if self.redactor else read.page
            ms = dict(recognizer.timings.ms)
            ms["total"] = (time.perf_counter() - started) * 1000
            while not self.room.acquire(timeout=0.25):
                if recognizer.stop.is_set():
                    raise _StoppedError
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (page, ms))
            yield ReadPage(page, read.image)
            if recognizer.stop.is_set():
                raise _StoppedError
            deadline = recognizer.deadline
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceededError("the call's deadline passed before the next page could be read")
            recognizer.timings = _PageTimings()
            started = time.perf_counter()


async def recognize_document(
    plane: OcrPlane,
    requests: AsyncIterator,
    deadline: float | None,
    redactor: Redactor | None = None,
) -> AsyncIterator[ocr_pb2.RecognizeDocumentResponse]:
    """The RecognizeDocument handler: pages in page order as each is read, then the output files."""
    config = plane.config
    with plane.document_memory() as take:  # the file is held until the call ends
        request = await receive_document(requests, config.max_document_bytes, take)
        asked = check_sets(request.fields, config.field_sets)
        if redactor is not None and ocr_pb2.OUTPUT_FORMAT_PDF in request.formats:
            raise ConfigurationError(
                "this server redacts personal data, and a searchable PDF carries the pages themselves: ask for text, "
                "md, hocr or alto",
                "OUTPUT_NOT_REDACTABLE",
            )
        loop = asyncio.get_running_loop()
        async with plane.admitted() as engine:
            limits = DocumentLimits(
                max_bytes=config.max_document_bytes,
                max_pages=config.max_document_pages,
                max_pixels_per_page=engine.config.max_image_pixels,
            )
            stop = threading.Event()
            with tempfile.TemporaryDirectory(prefix="ocr-document-") as scratch:
                recognizer = _PlaneRecognizer(plane, loop, deadline, stop)
                reading = _Reading(request, limits, recognizer, redactor, Path(scratch))
                worker: Future[None] = _start_thread(reading.run)
                provenance: ocr_pb2.Provenance | None = provenance_message(engine.provenance)
                try:
                    while (item := await reading.queue.get()) is not None:
                        page, ms = item
                        reading.room.release()
                        found = None
                        if asked:
                            found = await asyncio.to_thread(extract, page_lines(page), asked, config.field_sets)
                        response = ocr_pb2.RecognizeDocumentResponse(page=page_message(page, ms, found))
                        if provenance is not None:
                            response.provenance.CopyFrom(provenance)
                            provenance = None
                        yield response
                    await asyncio.wrap_future(worker)  # a document that could not be opened raises here
                finally:
                    stop.set()
                    with contextlib.suppress(BaseException):
                        await asyncio.shield(asyncio.wrap_future(worker))
                for fmt, path in reading.files.items():
                    async for chunk in _output(fmt, path):
                        yield ocr_pb2.RecognizeDocumentResponse(output=chunk)


def _start_thread(target: Callable[[], None]) -> Future[None]:
    """``target`` on its own daemon thread (a document can take minutes: it must not hold a pool's thread)."""
    done: Future[None] = Future()

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # handed to the event loop, which raises it there
            done.set_exception(exc)
        else:
            done.set_result(None)

    threading.Thread(target=run, name="ocr-document", daemon=True).start()
    return done


async def _output(fmt: int, path: Path) -> AsyncIterator[ocr_pb2.DocumentOutput]:
    """One output file as DocumentOutput chunks; the last one says so (an empty file is one empty last chunk)."""
    name = ocr_pb2.OutputFormat.Name(fmt)
    size = path.stat().st_size
    with path.open("rb") as file:
        sent = 0
        while True:
            chunk = await asyncio.to_thread(file.read, OUTPUT_CHUNK_BYTES)
            sent += len(chunk)
            yield ocr_pb2.DocumentOutput(format=name, content=chunk, last=sent >= size)
            if sent >= size:
                return
