"""An OcrResult as the ocr.v1 messages the server sends, and their proto3 JSON mapping.

Written once: the server answers with these messages and the in-process command line prints their JSON through
protobuf's own ``json_format``, so ``python -m edge_runtime recognize --json`` prints what a client of the server
gets. Protobuf messages only (``clients.ocr_client.messages``): no gRPC.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.message import Message

from clients.ocr_client.messages import ocr_pb2
from edge_runtime.document.layout import build_page
from edge_runtime.document.structure import Block, DocLine, DocWord, Page, Paragraph, Table
from edge_runtime.fields.model import Extraction, Field
from edge_runtime.stages import TIMING_FIELDS
from edge_runtime.types import OcrResult, Point, Provenance, TextLine

if TYPE_CHECKING:
    from edge_runtime.stream.types import TrackedLine

__all__ = [
    "points",
    "line_message",
    "timings_message",
    "provenance_message",
    "recognize_response",
    "response_json",
    "block_message",
    "table_message",
    "page_message",
    "page_json",
    "to_json",
    "fields_messages",
    "field_messages",
]

PAGE_ERROR_CODE = 3  # INVALID_ARGUMENT: a page fails only for what it holds (too large, undecodable, hostile)


def points(polygon: Iterable[Point]) -> list[ocr_pb2.Point]:
    return [ocr_pb2.Point(x=x, y=y) for x, y in polygon]


def line_message(line: TextLine | TrackedLine, track_id: int | None = None) -> ocr_pb2.TextLine:
    """A line of a result (or of a stream frame, with its ``track_id``) with its words."""
    return ocr_pb2.TextLine(
        text=line.text,
        confidence=line.confidence,
        polygon=points(line.polygon),
        angle=line.angle,
        words=[ocr_pb2.Word(text=w.text, confidence=w.confidence, polygon=points(w.polygon)) for w in line.words],
        track_id=track_id,
    )


def timings_message(ms: dict[str, float]) -> ocr_pb2.StageTimings:
    """Milliseconds by stage (``OcrResult.timings_ms``) -> StageTimings; a stage not in the table is left out."""
    return ocr_pb2.StageTimings(**{field: ms.get(stage, 0.0) for stage, field in TIMING_FIELDS.items()})


def provenance_message(p: Provenance) -> ocr_pb2.Provenance:
    return ocr_pb2.Provenance(bundle_id=p.bundle, backend=p.backend, device=p.device, stage_precision=p.precision)


def recognize_response(result: OcrResult, fields: Extraction | None = None) -> ocr_pb2.RecognizeResponse:
    """The RecognizeResponse the server sends for ``result`` (with the key fields read from it, when asked)."""
    message = ocr_pb2.RecognizeResponse(
        lines=[line_message(line) for line in result.lines],
        text=result.text,
        image_width=result.width,
        image_height=result.height,
        timings=timings_message(result.timings_ms),
        provenance=provenance_message(result.provenance),
        blocks=[block_message(b) for b in build_page(result.lines, result.width, result.height).blocks],
    )
    if fields:
        _add_fields(message, fields)
    return message


def _word_message(word: DocWord) -> ocr_pb2.Word:
    return ocr_pb2.Word(
        text=word.text,
        confidence=word.confidence,
        polygon=points(word.polygon),
        break_after="BREAK_TYPE_" + word.brk.name,
        source=None if word.source is None else "TEXT_SOURCE_" + word.source.name,
    )


def _doc_line_message(line: DocLine) -> ocr_pb2.TextLine:
    return ocr_pb2.TextLine(
        text=line.text,
        confidence=line.confidence,
        polygon=points(line.polygon),
        angle=line.angle,
        words=[_word_message(w) for w in line.words],
    )


def _paragraph_message(paragraph: Paragraph) -> ocr_pb2.Paragraph:
    return ocr_pb2.Paragraph(
        text=paragraph.text,
        confidence=paragraph.confidence,
        polygon=points(paragraph.polygon),
        lines=[_doc_line_message(line) for line in paragraph.lines],
    )


def block_message(block: Block) -> ocr_pb2.Block:
    message = ocr_pb2.Block(
        kind="BLOCK_KIND_" + block.kind.name,
        text=block.text,
        confidence=block.confidence,
        polygon=points(block.polygon),
        paragraphs=[_paragraph_message(p) for p in block.paragraphs],
    )
    if block.table is not None:
        message.table.CopyFrom(table_message(block.table))
    return message


# ---- layout: tables ---------------------------------------------------------------------------------------------
def table_message(table: Table) -> ocr_pb2.Table:
    """A table's cells (row, column, spans, text, box) as the ``Table`` message of its block."""
    cells = [
        ocr_pb2.TableCell(
            row=c.row,
            column=c.col,
            row_span=c.row_span,
            column_span=c.col_span,
            text=c.text,
            confidence=c.confidence,
            polygon=points(c.polygon),
        )
        for c in table.cells
    ]
    return ocr_pb2.Table(rows=table.rows, columns=table.cols, cells=cells, error=table.error)


def page_message(
    page: Page, timings_ms: dict[str, float] | None = None, fields: Extraction | None = None
) -> ocr_pb2.Page:
    """The ``Page`` message of a read page (RecognizeDocument's answer, ``document --to json``'s line)."""
    message = ocr_pb2.Page(
        page_number=page.number,
        width=page.width,
        height=page.height,
        dpi=page.dpi,
        text_source="TEXT_SOURCE_" + page.source.name,
        text=page.text,
        blocks=[block_message(b) for b in page.blocks],
    )
    if page.error:
        message.error.CopyFrom(ocr_pb2.Error(code=PAGE_ERROR_CODE, reason=page.error, message=_page_error(page)))
    if timings_ms:
        message.timings.CopyFrom(timings_message(timings_ms))
    if fields:
        _add_fields(message, fields)
    return message


def _page_error(page: Page) -> str:
    return f"page {page.number} cannot be read ({page.error})"


def page_json(
    page: Page, timings_ms: dict[str, float] | None = None, fields: Extraction | None = None
) -> dict[str, Any]:
    """``page`` as the JSON of the Page message the server would send for it."""
    return to_json(page_message(page, timings_ms, fields))


# --- key fields and form pairs (edge_runtime.fields) ---


def field_messages(fields: Iterable[Field]) -> list[ocr_pb2.KeyField]:
    """Key fields as ``KeyField`` messages (a page's, a response's, a stream event's)."""
    return [
        ocr_pb2.KeyField(
            name=f.name,
            value=f.value,
            text=f.text,
            confidence=f.confidence,
            polygon=points(f.polygon),
            field_set=f.field_set,
        )
        for f in fields
    ]


def fields_messages(fields: Extraction) -> tuple[list[ocr_pb2.KeyField], list[ocr_pb2.KeyValue]]:
    """An extraction as the ``fields`` and ``key_values`` of a Page or a RecognizeResponse."""
    named = field_messages(fields.fields)
    pairs = [
        ocr_pb2.KeyValue(
            key=ocr_pb2.TextSpan(text=kv.key.text, polygon=points(kv.key.polygon)),
            value=ocr_pb2.TextSpan(text=kv.value.text, polygon=points(kv.value.polygon)),
            confidence=kv.confidence,
        )
        for kv in fields.key_values
    ]
    return named, pairs


def _add_fields(message: ocr_pb2.Page | ocr_pb2.RecognizeResponse, fields: Extraction) -> None:
    named, pairs = fields_messages(fields)
    message.fields.extend(named)
    message.key_values.extend(pairs)


def to_json(message: Message) -> dict[str, Any]:
    """The proto3 JSON mapping every command line prints: field names as in the .proto, fields without presence
    printed even when zero or empty, unset messages (``error``) left out."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def response_json(result: OcrResult, fields: Extraction | None = None) -> dict[str, Any]:
    """``result`` (and its key ``fields``) as the JSON of the RecognizeResponse the server would send for it."""
    return to_json(recognize_response(result, fields))
