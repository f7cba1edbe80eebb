"""Typed results of the Python client: frozen dataclasses made from ocr.v1 responses.

Field names are the .proto's. ``error`` is ``None`` on success and an ``OcrCallError`` (``code``, ``reason``,
``message``) on a failed batch item or stream frame, so ``if item.error: raise item.error`` works. Each result
keeps the response it was made from in ``message`` and turns it into the proto3 JSON mapping with
``to_dict()``: the one JSON shape every command line of the project prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import json_format

__all__ = [
    "REASON_KEY",
    "REQUEST_ID_KEY",
    "RETRY_AFTER_KEY",
    "OcrCallError",
    "Point",
    "Word",
    "TextLine",
    "Paragraph",
    "Block",
    "StageTimings",
    "Provenance",
    "RecognizeResult",
    "KeyField",
    "KeyValue",
    "TextCandidate",
    "TextEvent",
    "StreamResult",
    "StreamFrame",
    "ServerLimits",
    "StagePrecision",
    "ServerInfo",
    "to_dict",
]

REASON_KEY = "ocr-error-reason"  # trailing metadata key the server puts its stable reason in
REQUEST_ID_KEY = "x-request-id"  # trailing metadata key of the call's request id (the audit log names it)
RETRY_AFTER_KEY = "retry-after"  # seconds to wait before retrying a RESOURCE_EXHAUSTED call (rate limits)
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def to_dict(message: Any) -> dict[str, Any]:
    """The proto3 JSON mapping of a response message or result (field names as in the .proto, fields without
    presence printed even when zero or empty, unset messages such as ``error`` left out)."""
    message = getattr(message, "message", None) if not hasattr(message, "DESCRIPTOR") else message
    if message is None:
        raise ValueError("this result was not made from a response message")
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


class OcrCallError(Exception):
    """A failed call, batch item or stream frame: ``code`` (grpc.StatusCode), ``reason`` (stable,
    UPPER_SNAKE_CASE; None when the failure came from gRPC itself, e.g. a message over the size limit) and the
    server's ``message``; for a failed call also its ``request_id`` (as in the server's audit log) and
    ``retry_after_s`` (set when a rate limit refused it)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str | None,
        message: str,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{code.name}{f' [{reason}]' if reason else ''}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.request_id = request_id
        self.retry_after_s = retry_after_s

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> OcrCallError:
        found: dict[str, str] = {}
        # (key, value) pairs (grpc's namedtuples; grpc.aio's plain tuples), or None; some RpcErrors have none.
        trailing: Iterable[tuple[str, str | bytes]] = getattr(error, "trailing_metadata", tuple)() or ()
        for key, value in trailing:
            if key in (REASON_KEY, REQUEST_ID_KEY, RETRY_AFTER_KEY):
                found[key] = value if isinstance(value, str) else value.decode()
        retry = found.get(RETRY_AFTER_KEY)
        return cls(
            error.code(),
            found.get(REASON_KEY),
            error.details() or "",
            found.get(REQUEST_ID_KEY),
            float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
        )

    @classmethod
    def from_message(cls, error: Any) -> OcrCallError:
        """From an ``ocr.v1.Error`` (a failed batch item or stream frame)."""
        return cls(_CODES.get(error.code, grpc.StatusCode.UNKNOWN), error.reason or None, error.message)


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Word:
    """One word. ``break_after`` (BREAK_TYPE_* name) is set only in a page structure (``blocks``): what follows
    the word; ``source`` (TEXT_SOURCE_* name) only on a MIXED page: where the word came from."""

    text: str
    confidence: float
    polygon: tuple[Point, ...]
    break_after: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class TextLine:
    """One line: text, mean character confidence, four corners as read, words, reading direction in degrees."""

    text: str
    confidence: float
    polygon: tuple[Point, ...]
    words: tuple[Word, ...]
    angle: int
    track_id: int = 0  # StreamRecognize only: the line's track (as in TextEvent.track_id)


@dataclass(frozen=True)
class Paragraph:
    """Lines that belong together, in reading order; ``text`` joins the words by their breaks."""

    text: str
    confidence: float
    polygon: tuple[Point, ...]
    lines: tuple[TextLine, ...]


@dataclass(frozen=True)
class Block:
    """A region read as one unit; ``kind`` (BLOCK_KIND_* name) marks titles, headings, lists and the running
    headers, footers and page numbers that are not part of the reading flow."""

    kind: str
    text: str
    confidence: float
    polygon: tuple[Point, ...]
    paragraphs: tuple[Paragraph, ...]


@dataclass(frozen=True)
class StageTimings:
    decode_ms: float
    queue_ms: float
    detection_ms: float
    classification_ms: float
    recognition_ms: float
    total_ms: float


@dataclass(frozen=True)
class Provenance:
    bundle_id: str
    backend: str
    device: str
    stage_precision: dict[str, str]


class _Result:
    message: Any

    def to_dict(self) -> dict[str, Any]:
        """The proto3 JSON mapping of the response this result was made from."""
        return to_dict(self.message)


@dataclass(frozen=True)
class KeyField:
    """A named value read from an image, a page or a stream event's line (the sets asked in ``fields``):
    ``value`` in normal form (ISO 8601 date, two-place decimal amount, ISO 4217 currency; else as printed),
    ``text`` as printed, ``field_set`` the set that found it (receipt, invoice or a set of the server's fields file).
    """

    name: str
    value: str
    text: str
    confidence: float
    polygon: tuple[Point, ...]
    field_set: str


@dataclass(frozen=True)
class KeyValue:
    """A form's printed label and the value that belongs to it (the ``form`` set), each with its box."""

    key: str
    value: str
    confidence: float
    key_polygon: tuple[Point, ...]
    value_polygon: tuple[Point, ...]


def key_fields(message: Any) -> tuple[KeyField, ...]:
    """The ``fields`` of a RecognizeResponse, a Page or a TextEvent."""
    return tuple(
        KeyField(f.name, f.value, f.text, f.confidence, _points(f.polygon), f.field_set) for f in message.fields
    )


def key_values(message: Any) -> tuple[KeyValue, ...]:
    """The ``key_values`` (form pairs) of a RecognizeResponse or a Page."""
    return tuple(
        KeyValue(kv.key.text, kv.value.text, kv.confidence, _points(kv.key.polygon), _points(kv.value.polygon))
        for kv in message.key_values
    )


@dataclass(frozen=True)
class RecognizeResult(_Result):
    """The text of one image. A failed batch item has ``error`` set and empty other fields."""

    text: str
    lines: tuple[TextLine, ...]
    image_width: int
    image_height: int
    timings: StageTimings | None
    provenance: Provenance | None
    error: OcrCallError | None = None
    blocks: tuple[Block, ...] = ()  # the same lines as blocks -> paragraphs -> lines in reading order
    fields: tuple[KeyField, ...] = ()  # of the sets asked in ``fields`` (receipt, invoice, a fields file's)
    key_values: tuple[KeyValue, ...] = ()  # form pairs, when the ``form`` set was asked
    message: Any = field(default=None, repr=False, compare=False)  # the ocr.v1.RecognizeResponse


@dataclass(frozen=True)
class TextCandidate:
    """A distinct reading of a tracked line: its share of the vote, frames read so, passes the stream's checks."""

    text: str
    score: float
    frames: int
    accepted: bool


@dataclass(frozen=True)
class TextEvent:
    type: str  # TEXT_EVENT_TYPE_APPEARED, _UPDATED, _STABLE or _DISAPPEARED
    track_id: int
    text: str
    confidence: float
    polygon: tuple[Point, ...]
    candidates: tuple[TextCandidate, ...] = ()  # highest score first: why `text` was chosen
    fields: tuple[KeyField, ...] = ()  # key fields of `text` by the stream's sets (config options.fields)


@dataclass(frozen=True)
class StreamResult(_Result):
    """One stream response: the frame's lines and the track events since the previous response."""

    sequence: int
    lines: tuple[TextLine, ...]
    events: tuple[TextEvent, ...]
    frames_dropped: int
    capture_time: float | None  # seconds since the epoch, as sent
    timings: StageTimings | None  # None on the end-of-stream flush
    error: OcrCallError | None = None
    final: bool = False  # the end-of-stream flush (DISAPPEARED for every line still reported)
    detected_area: float = 0.0  # share of the frame the detector ran on
    frames_ahead: int = 0  # frames of other streams the server ran while this one waited for its turn
    message: Any = field(default=None, repr=False, compare=False)  # the ocr.v1.StreamRecognizeResponse


@dataclass(frozen=True)
class StreamFrame:
    """A frame to stream with its own sequence number and capture time (seconds since the epoch); plain images
    get 0, 1, ... and the time they are sent."""

    image: Any
    sequence: int | None = None
    capture_time: float | None = None


@dataclass(frozen=True)
class ServerLimits:
    max_image_pixels: int
    min_image_side: int
    max_message_bytes: int
    max_concurrent_rpcs: int
    max_document_bytes: int = 0  # RecognizeDocument: largest file
    max_document_pages: int = 0  # RecognizeDocument: most pages read from one document


@dataclass(frozen=True)
class StagePrecision:
    """The precision one stage is served in, and why (e.g. INT8 passed the accuracy gate, or no INT8 build)."""

    stage: str
    precision: str
    reason: str


@dataclass(frozen=True)
class ServerInfo(_Result):
    server_version: str
    provenance: Provenance | None
    ready: bool
    limits: ServerLimits | None
    image_formats: tuple[str, ...]
    pixel_formats: tuple[str, ...]  # PIXEL_FORMAT_* names
    batch_max_delay_ms: float
    batch_max_size: int
    stage_precisions: tuple[StagePrecision, ...]
    # how the serving models got there (generation, swaps without a restart) and the background INT8/BF16 build,
    # as the proto3 JSON mapping gives ocr.v1.ModelStatus (empty from a server that predates it)
    models: dict[str, Any] = field(default_factory=dict)
    message: Any = field(default=None, repr=False, compare=False)  # the ocr.v1.GetServerInfoResponse


# ---- from messages ----------------------------------------------------------------------------------------
def enum_name(message: Any, enum: str, number: int) -> str:
    """The name of value ``number`` of the .proto enum ``enum`` (the number itself when this code does not know it)."""
    value = type(message).DESCRIPTOR.file.enum_types_by_name[enum].values_by_number.get(number)
    return value.name if value is not None else str(number)


def _points(points: Any) -> tuple[Point, ...]:
    return tuple(Point(p.x, p.y) for p in points)


def _optional_enum(message: Any, field_name: str, enum: str) -> str | None:
    return enum_name(message, enum, getattr(message, field_name)) if message.HasField(field_name) else None


def _word(w: Any) -> Word:
    return Word(
        w.text,
        w.confidence,
        _points(w.polygon),
        _optional_enum(w, "break_after", "BreakType"),
        _optional_enum(w, "source", "TextSource"),
    )


def _lines(lines: Any) -> tuple[TextLine, ...]:
    return tuple(
        TextLine(
            line.text,
            line.confidence,
            _points(line.polygon),
            tuple(_word(w) for w in line.words),
            line.angle,
            line.track_id,
        )
        for line in lines
    )


def blocks(message: Any) -> tuple[Block, ...]:
    """The ``blocks`` of a RecognizeResponse or a Page as results."""
    return tuple(
        Block(
            enum_name(message, "BlockKind", b.kind),
            b.text,
            b.confidence,
            _points(b.polygon),
            tuple(Paragraph(p.text, p.confidence, _points(p.polygon), _lines(p.lines)) for p in b.paragraphs),
        )
        for b in message.blocks
    )


def stage_timings(message: Any, name: str = "timings") -> StageTimings | None:
    """``message``'s StageTimings field ``name``; None when unset."""
    if not message.HasField(name):
        return None
    t = getattr(message, name)
    return StageTimings(t.decode_ms, t.queue_ms, t.detection_ms, t.classification_ms, t.recognition_ms, t.total_ms)


def provenance_of(message: Any) -> Provenance | None:
    """``message``'s provenance; None when unset."""
    if not message.HasField("provenance"):
        return None
    p = message.provenance
    return Provenance(p.bundle_id, p.backend, p.device, dict(p.stage_precision))


def item_error(message: Any) -> OcrCallError | None:
    """``message``'s ``error`` (a failed item, frame or page) as an OcrCallError; None on success."""
    return OcrCallError.from_message(message.error) if message.HasField("error") else None


def recognize_result(response: Any) -> RecognizeResult:
    return RecognizeResult(
        text=response.text,
        lines=_lines(response.lines),
        image_width=response.image_width,
        image_height=response.image_height,
        timings=stage_timings(response),
        provenance=provenance_of(response),
        error=item_error(response),
        blocks=blocks(response),
        fields=key_fields(response),
        key_values=key_values(response),
        message=response,
    )


def stream_result(response: Any) -> StreamResult:
    events = tuple(
        TextEvent(
            enum_name(response, "TextEventType", e.type),
            e.track_id,
            e.text,
            e.confidence,
            _points(e.polygon),
            tuple(TextCandidate(c.text, c.score, c.frames, c.accepted) for c in e.candidates),
            key_fields(e),
        )
        for e in response.events
    )
    capture = response.capture_time.ToNanoseconds() / 1e9 if response.HasField("capture_time") else None
    return StreamResult(
        sequence=response.sequence,
        lines=_lines(response.lines),
        events=events,
        frames_dropped=response.frames_dropped,
        capture_time=capture,
        timings=stage_timings(response),
        error=item_error(response),
        final=response.final,
        detected_area=response.detected_area,
        frames_ahead=response.frames_ahead,
        message=response,
    )


def server_info(response: Any) -> ServerInfo:
    limits = None
    if response.HasField("limits"):
        lim = response.limits
        limits = ServerLimits(
            lim.max_image_pixels,
            lim.min_image_side,
            lim.max_message_bytes,
            lim.max_concurrent_rpcs,
            lim.max_document_bytes,
            lim.max_document_pages,
        )
    return ServerInfo(
        server_version=response.server_version,
        provenance=provenance_of(response),
        ready=response.ready,
        limits=limits,
        image_formats=tuple(response.image_formats),
        pixel_formats=tuple(enum_name(response, "PixelFormat", f) for f in response.pixel_formats),
        batch_max_delay_ms=response.batch_max_delay_ms,
        batch_max_size=response.batch_max_size,
        stage_precisions=tuple(StagePrecision(s.stage, s.precision, s.reason) for s in response.stage_precisions),
        models=(
            json_format.MessageToDict(response.models, preserving_proto_field_name=True)
            if response.HasField("models")
            else {}
        ),
        message=response,
    )
