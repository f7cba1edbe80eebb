"""One document of a batch: read once, every format written through ``outputs.write_outputs`` (what `document`
writes) to temporary ``.part`` files renamed into place only when all are complete, and its report record.

Whatever goes wrong with the document is its record's ``error`` (a stable reason) and the batch goes on; only
KeyboardInterrupt passes through, after the ``.part`` files are removed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.document.batch_inputs import BatchInput
from edge_runtime.document.batch_report import Record, sha256_of
from edge_runtime.document.outputs import EXTENSIONS, open_text, write_outputs
from edge_runtime.document.reader import ReadPage, Recognizer, read_opened
from edge_runtime.document.sources import DocumentKind, DocumentOptions, open_document
from edge_runtime.errors import OcrError

__all__ = [
    "Job",
    "run_job",
    "output_file",
    "part_file",
    "failed_record",
    "new_record",
    "read_input",
    "recorded",
    "write_pages",
]

PageCallback = Callable[[int, str], None]  # (page number, its error or "") as each page is read


@dataclass(frozen=True)
class Job:
    """What a worker needs to read one document: picklable, sent to worker processes as it is."""

    input: BatchInput
    out: Path
    formats: tuple[str, ...]
    options: DocumentOptions
    settings: dict[str, Any]  # what the outputs depend on besides the file: recorded, compared on resume
    run: int


def output_file(job: Job, fmt: str) -> Path:
    return job.out / (job.input.name + EXTENSIONS[fmt])


def part_file(job: Job, fmt: str) -> Path:
    final = output_file(job, fmt)
    return final.with_name(final.name + ".part")


def failed_record(job: Job, reason: str, message: str) -> Record:
    """The record of a document that could not be read (its outputs are not written)."""
    return {**new_record(job), "error": reason, "message": message}


def run_job(job: Job, engine: Recognizer, on_page: PageCallback | None = None) -> Record:
    """Read ``job``'s document with ``engine`` and write its outputs; its record (``error`` set when it failed)."""
    started = time.perf_counter()
    record = new_record(job)
    data = read_input(job, record)
    if data is not None:
        with recorded(job, record):
            _read_and_write(job, data, engine, record, on_page)
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


def read_input(job: Job, record: Record) -> bytes | None:
    """The document's bytes, its size and modification time recorded first (a file changed while it is read is
    read again next time); None, with ``record``'s error set, when the file cannot be read."""
    try:
        stat = job.input.path.stat()
        record["size"], record["mtime_ns"] = stat.st_size, stat.st_mtime_ns
        return job.input.path.read_bytes()
    except OSError as exc:
        record.update(error="DOCUMENT_UNREADABLE", message=f"cannot read {job.input.path}: {exc.strerror}")
        return None


@contextmanager
def recorded(job: Job, record: Record) -> Iterator[None]:
    """Whatever goes wrong inside becomes ``record``'s error (a stable reason), its outputs none; the batch goes on."""
    try:
        yield
    except OcrError as exc:
        record.update(error=exc.reason, message=exc.message, outputs={})
    except OSError as exc:
        record.update(error="OUTPUT_UNWRITABLE", message=f"cannot write into {job.out}: {exc}", outputs={})
    except Exception as exc:  # a bug met by one document: the others are still read
        record.update(error="INTERNAL", message=f"{type(exc).__name__}: {exc}", outputs={})


def new_record(job: Job) -> Record:
    """The record of ``job``'s document before it is read: no pages, no error, no outputs."""
    return {
        "name": job.input.name,
        "path": str(job.input.path),
        "run": job.run,
        "settings": job.settings,
        "size": None,
        "mtime_ns": None,
        "pages": 0,
        "seconds": 0.0,
        "error": None,
        "message": None,
        "page_errors": [],
        "outputs": {},
    }


def _read_and_write(job: Job, data: bytes, engine: Recognizer, record: Record, on_page: PageCallback | None) -> None:
    with open_document(data, job.options) as document:
        source = data if document.kind is DocumentKind.PDF else None
        write_pages(job, read_opened(document, engine, job.options.text_layer), source, record, on_page)


def write_pages(
    job: Job, reads: Iterable[ReadPage], source: bytes | None, record: Record, on_page: PageCallback | None = None
) -> None:
    """Write the read pages of ``job``'s document (``source``: its bytes when it is a PDF) into every output, counted
    into ``record``; the ``.part`` files are renamed into place only once all are complete. Also the way a batch
    whose pages were read elsewhere (a Ray cluster) writes them, so both give the same files."""
    parts = {fmt: part_file(job, fmt) for fmt in job.formats}
    try:
        output_file(job, job.formats[0]).parent.mkdir(parents=True, exist_ok=True)
        with ExitStack() as files:
            texts = {fmt: files.enter_context(open_text(parts[fmt])) for fmt in job.formats if fmt != "pdf"}
            pdf = files.enter_context(parts["pdf"].open("wb")) if "pdf" in parts else None
            write_outputs(_counted(reads, record, on_page), texts, pdf, source, job.options.password)
        outputs = {}
        for fmt, part in parts.items():
            outputs[fmt] = {"file": job.input.name + EXTENSIONS[fmt], "sha256": sha256_of(part)}
        for fmt, part in parts.items():
            os.replace(part, output_file(job, fmt))
        record["outputs"] = outputs
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)


def _counted(reads: Iterable[ReadPage], record: Record, on_page: PageCallback | None) -> Iterator[ReadPage]:
    for read in reads:
        record["pages"] += 1
        if read.page.error:
            record["page_errors"].append({"page": read.page.number, "error": read.page.error})
        if on_page is not None:
            on_page(read.page.number, read.page.error)
        yield read
