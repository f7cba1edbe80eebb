"""The two stages a Ray batch runs on the cluster, as plain functions and classes (no Ray import: the pipeline in
``batch_ray`` wires them): documents split into pages by CPU tasks, pages read by engine actors.

Rows are ``{"name": document name, "payload": pickled object}``: a document's first row carries its ``Opened``
(its record so far, its page count and, for the searchable PDF, the PDF's bytes), each later row one page: a
``(SourcePage, seconds)`` from the split, a ``PageRead`` once an actor has read it. The pages are pickled whole
(image, text layer and all), so the actors read exactly what the single-box command reads."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_runtime.config import EngineConfig
from edge_runtime.document.batch_job import Job, new_record, read_input, recorded
from edge_runtime.document.batch_report import Record
from edge_runtime.document.lazy import LazyEngine
from edge_runtime.document.reader import read_page
from edge_runtime.document.sources import DocumentKind, SourcePage, open_document
from edge_runtime.document.structure import Page
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.errors import OcrError

__all__ = ["Opened", "PageRead", "split_pages", "PageReader"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Opened:
    """A document as the split found it: its record so far (size, time, and the error when it could not be
    opened), its bytes when they are a PDF the searchable PDF keeps pages of, and the seconds opening took."""

    record: Record
    source: bytes | None
    seconds: float
    pages: int = 0  # the rows that follow, one per page asked for (read or refused)


@dataclass(frozen=True)
class PageRead:
    """A page as an actor read it; ``failure`` and ``reason`` when reading it raised, so the document is recorded
    as ``batch_job.recorded`` records it in the single-box command."""

    page: Page | None
    image: np.ndarray | None  # kept only when the searchable PDF may draw the page from it
    seconds: float  # rendering and reading
    failure: str = ""  # the message of what was raised, "" when the page was read
    reason: str = ""  # its stable reason: an OcrError's own, INTERNAL for anything else


def split_pages(row: Row) -> Iterator[Row]:
    """One document (``row["job"]``, a pickled ``Job`` whose path the task can read) into its ``Opened`` row and
    a row per page, in page order, each page rendered as it is yielded (one page's pixels held at a time)."""
    job: Job = pickle.loads(row["job"])
    name = job.input.name
    started = time.perf_counter()
    record = new_record(job)
    data = read_input(job, record)
    document = None
    if data is not None:
        with recorded(job, record):  # the reason it cannot be opened, as run_job records it
            document = open_document(data, job.options)
    if document is None:
        yield _row(name, Opened(record, None, time.perf_counter() - started))
        return
    with document:
        keep = "pdf" in job.formats and document.kind is DocumentKind.PDF
        opened = Opened(record, data if keep else None, time.perf_counter() - started, len(document.selected))
        yield _row(name, opened)
        pages = iter(document)
        while True:
            started = time.perf_counter()
            try:
                page = next(pages, None)
            except Exception as exc:  # recorded as run_job records it; not retried
                yield _row(name, _failed(exc, time.perf_counter() - started))
                return
            if page is None:
                return
            yield _row(name, (page, time.perf_counter() - started))


class PageReader:
    """An engine actor: each page row read with the engine's own per-page function (``reader.read_page``), the
    engine loaded at its first page that needs OCR (born-digital pages never load the models)."""

    def __init__(self, config: EngineConfig, text_layer: str, keep_images: bool) -> None:
        import cv2

        cv2.setNumThreads(config.num_threads)  # image steps too stay within the actor's CPUs
        self._engine = LazyEngine(config)
        self._mode = TextLayerMode(text_layer)
        self._keep_images = keep_images

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        payloads = [self._read(pickle.loads(payload)) for payload in batch["payload"]]
        return {"name": list(batch["name"]), "payload": payloads}

    def _read(self, item: Opened | PageRead | tuple[SourcePage, float]) -> bytes:
        if isinstance(item, Opened | PageRead):
            return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)  # a document's first row, a failed split
        source, seconds = item
        started = time.perf_counter()
        try:
            page = read_page(source, self._engine, self._mode)
        except Exception as exc:  # the document is recorded with it, as run_job records it
            read = _failed(exc, seconds)
        else:
            image = source.image if self._keep_images else None
            read = PageRead(page, image, seconds + time.perf_counter() - started)
        return pickle.dumps(read, protocol=pickle.HIGHEST_PROTOCOL)


def _row(name: str, item: object) -> Row:
    return {"name": name, "payload": pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)}


def _failed(exc: Exception, seconds: float) -> PageRead:
    if isinstance(exc, OcrError):
        return PageRead(None, None, seconds, exc.message, exc.reason)
    return PageRead(None, None, seconds, f"{type(exc).__name__}: {exc}", "INTERNAL")
