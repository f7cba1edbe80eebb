"""`python -m edge_runtime stream --source SRC`: OCR a video file, camera or URL; text events as JSON lines.

In-process by default; with ``--server host:port`` the frames go to a server's StreamRecognize instead, through
the Python client library (``clients.ocr_client``, imported only then).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from edge_runtime.arguments import OneLineParser, add_engine_arguments, engine_config
from edge_runtime.config import from_env
from edge_runtime.errors import ConfigurationError, OcrError
from edge_runtime.fields.model import Field
from edge_runtime.stream.fields import check_stream_sets
from edge_runtime.stream.flow import FlowMode
from edge_runtime.stream.settings import StreamSettings
from edge_runtime.stream.sources import SourceError, VideoSource, is_live, parse_source
from edge_runtime.stream.types import EventType, Frame, FrameError, FrameResult, TextCandidate, TrackedLine, TrackEvent

if TYPE_CHECKING:
    from edge_runtime.fields import FieldSet

__all__ = ["main", "build_parser", "stream_settings"]

PREFIX = "OCR_STREAM_"

EXAMPLES = """
examples:
  python -m edge_runtime stream --source clip.mp4                 every frame of a file (mode ALL)
  python -m edge_runtime stream --source clip.mp4 --realtime      the file as a live camera (LATEST_ONLY)
  python -m edge_runtime stream --source 0 --show-fps             the first webcam
  python -m edge_runtime stream --source rtsp://cam/1 --server localhost:50051 --jpeg

Output: one JSON object per line: {"event": "APPEARED" | "UPDATED" | "STABLE" | "DISAPPEARED", ...} and
{"error": {...}} for frames that could not be read; with --frames also {"frame": ...} for every frame. Fields
shared with ocr.v1 (track_id, candidates [{text, score, frames, accepted}], detected_area, frames_ahead,
final) have the .proto's names. Report only plates: --set 'text_patterns=[A-Z]{2} ?[0-9]{4}'; only valid
container codes or IBANs: --set text_checks=ISO6346,IBAN. Key fields on each event ("fields": [{name, value,
text, confidence, field_set}]): --fields receipt, or a set of --fields-file (docs/fields.md).
Settings not exposed as flags: OCR_STREAM_<FIELD> environment variables or --set FIELD=VALUE.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m edge_runtime stream",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", required=True, help="video file, rtsp:// or http(s):// URL, or device index")
    parser.add_argument("--server", metavar="HOST:PORT", help="send frames to this server instead of reading here")
    parser.add_argument(
        "--mode",
        type=str.upper,
        choices=[m.value for m in FlowMode],
        help="flow control (default: LATEST_ONLY for live sources and --realtime, ALL for files)",
    )
    parser.add_argument("--queue-size", type=int)
    parser.add_argument("--realtime", action="store_true", help="play a file at its frame rate, like a camera")
    parser.add_argument(
        "--jpeg",
        nargs="?",
        type=int,
        const=85,
        metavar="QUALITY",
        help="send frames JPEG-encoded (default quality 85) instead of raw pixels",
    )
    parser.add_argument("--max-frames", type=int, help="stop after this many frames from the source")
    parser.add_argument("--frames", action="store_true", help="also print one JSON line per frame")
    parser.add_argument("--show-fps", action="store_true", help="live status line on stderr")
    parser.add_argument(
        "--fields",
        metavar="SETS",
        help="key field sets each event carries: receipt, invoice, or a set of --fields-file (comma list)",
    )
    parser.add_argument(
        "--fields-file",
        type=Path,
        default=os.environ.get("OCR_FIELDS_FILE") or None,
        metavar="TOML",
        help="the deployment's own field sets (docs/fields.md; default OCR_FIELDS_FILE)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any StreamSettings field, e.g. --set stable_after=10 (repeatable)",
    )
    add_engine_arguments(parser)
    return parser


def stream_settings(args: argparse.Namespace, environ: dict[str, str] | None = None) -> StreamSettings:
    """Defaults < OCR_STREAM_* environment < --set < dedicated flags; the mode default depends on the source."""
    environ = dict(os.environ if environ is None else environ)
    fields = {f.name for f in dataclasses.fields(StreamSettings)}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise ConfigurationError(f"--set {item!r}: expected FIELD=VALUE, FIELD one of {', '.join(sorted(fields))}")
        environ[PREFIX + name.upper()] = value  # parsed exactly like the environment
    mode = args.mode
    if mode is None and not environ.get(PREFIX + "MODE"):
        mode = FlowMode.LATEST_ONLY if is_live(parse_source(args.source)) or args.realtime else FlowMode.ALL
    return from_env(
        StreamSettings, prefix=PREFIX, environ=environ, mode=mode, queue_size=args.queue_size, fields=args.fields
    )


def field_sets(args: argparse.Namespace, settings: StreamSettings) -> Mapping[str, FieldSet]:
    """The fields file's sets, with the stream's set names checked against them (before the source opens)."""
    from edge_runtime.fields import load_fields_file

    if args.server:  # the server checks the names against its own sets and fields file
        if args.fields_file:
            raise ConfigurationError(
                "--fields-file is in-process only: with --server the server's own fields file (--fields-file of "
                "python -m server) defines the sets --fields may name",
                "FIELDS_FILE_LOCAL_ONLY",
            )
        return {}
    user = load_fields_file(args.fields_file) if args.fields_file else {}
    check_stream_sets(settings.fields, user)
    return user


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = stream_settings(args)
        user_sets = field_sets(args, settings)
    except OcrError as exc:
        print(f"error: {exc.message} [{exc.reason}]", file=sys.stderr)
        return 2
    source = VideoSource(
        args.source,
        pace=args.realtime,
        encode="jpeg" if args.jpeg else "raw",
        jpeg_quality=args.jpeg or 85,
        max_frames=args.max_frames,
    )
    status = StatusLine(sys.stderr) if args.show_fps else None
    try:
        local = args.server is None
        results = _local(args, source, settings, user_sets) if local else _remote(args.server, source, settings)
        for result in results:
            _print_result(result, args.frames, sys.stdout)
            if status is not None:
                status.update(result, source)
    except KeyboardInterrupt:
        return 130
    except (SourceError, _RemoteError) as exc:
        print(f"\nerror: {exc} [{exc.reason}]", file=sys.stderr)
        return 1
    except OcrError as exc:
        print(f"\nerror: {exc.message} [{exc.reason}]", file=sys.stderr)
        return 2
    finally:
        source.close()
        if status is not None:
            status.end()
    return 0


# ---- in-process -----------------------------------------------------------------------------------------
def _local(
    args: argparse.Namespace, source: VideoSource, settings: StreamSettings, user_sets: Mapping[str, FieldSet]
) -> Iterator[FrameResult]:
    from edge_runtime.pipeline import OcrEngine
    from edge_runtime.stream.session import StreamSession, run_stream

    engine = OcrEngine(engine_config(args))
    engine.warm_up()  # before the camera starts: the first frame must not wait for graph compilation
    results = run_stream(engine, source, settings, session=StreamSession(engine, settings, field_sets=user_sets))
    try:
        yield from results
    finally:
        results.close()


# ---- remote ---------------------------------------------------------------------------------------------
class _RemoteError(Exception):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _remote(target: str, source: Iterable[Frame], settings: StreamSettings) -> Iterator[FrameResult]:
    """Stream to a server's StreamRecognize through the client library, imported only here (it needs grpc)."""
    try:
        from clients.ocr_client import OcrCallError, OcrClient, StreamFrame
    except ImportError as exc:
        raise _RemoteError(
            f"--server needs the Python client library (clients.ocr_client) and grpcio: {exc}", "CLIENT_UNAVAILABLE"
        ) from None

    frames = (StreamFrame(frame.image, frame.sequence, frame.capture_time) for frame in source)
    try:
        with OcrClient(target, timeout=None) as client:
            for response in client.stream_recognize(frames, config=stream_config(settings)):
                yield _result_of(response)
    except OcrCallError as error:
        raise _RemoteError(f"{error.code.name}: {error.message}", error.reason or error.code.name) from None


def stream_config(settings: StreamSettings) -> dict[str, Any]:
    """StreamSettings as the JSON form of ocr.v1.StreamConfig (what the client library sends)."""
    default = StreamSettings()
    return {
        "options": {"skip_detection": settings.skip_detection, "fields": list(settings.fields)},
        "flow_control": f"FLOW_CONTROL_{settings.mode.value}",
        "queue_size": settings.queue_size,
        "change_threshold": settings.change_threshold,
        "reread_every_frames": settings.reread_every if settings.reread_every != default.reread_every else 0,
        "box_change_threshold": settings.match_iou,
        "stable_after_frames": settings.stable_after,
        "disappear_after_frames": settings.disappear_after,
        "text_patterns": list(settings.text_patterns),
        "text_checks": [f"TEXT_CHECK_{name}" for name in settings.text_checks],
    }


def _result_of(response: Any) -> FrameResult:
    """A client StreamResult as the FrameResult the in-process path prints."""
    events = tuple(
        TrackEvent(
            EventType(e.type.removeprefix("TEXT_EVENT_TYPE_")),
            e.track_id,
            e.text,
            e.confidence,
            tuple((p.x, p.y) for p in e.polygon),
            response.sequence,
            candidates=tuple(TextCandidate(c.text, c.score, c.frames, c.accepted) for c in e.candidates),
            fields=tuple(
                Field(f.name, f.value, f.text, f.confidence, tuple((p.x, p.y) for p in f.polygon), f.field_set)
                for f in e.fields
            ),
        )
        for e in response.events
        if e.type != "TEXT_EVENT_TYPE_UNSPECIFIED"
    )
    lines = tuple(
        TrackedLine(line.track_id, line.text, line.confidence, tuple((p.x, p.y) for p in line.polygon), line.angle)
        for line in response.lines
    )
    error = (
        FrameError(response.error.reason or response.error.code.name, response.error.message)
        if response.error is not None
        else None
    )
    timings = response.timings
    return FrameResult(
        response.sequence,
        response.capture_time or 0.0,
        lines,
        events,
        frames_dropped=response.frames_dropped,
        queue_wait_ms=timings.queue_ms if timings else 0.0,
        processing_ms=timings.total_ms if timings else 0.0,
        error=error,
        final=response.final,
        detected_area=response.detected_area,
        frames_ahead=response.frames_ahead,
    )


# ---- output ---------------------------------------------------------------------------------------------
def _field_json(field: Any) -> dict[str, Any]:
    """A key field as in ocr.v1 Field's JSON (and fleet.v1 EventField's), without its polygon (the event's)."""
    return {
        "name": field.name,
        "value": field.value,
        "text": field.text,
        "confidence": round(field.confidence, 4),
        "field_set": field.field_set,
    }


def _print_result(result: FrameResult, frames: bool, out: TextIO) -> None:
    now = time.time()
    if result.error is not None:
        out.write(
            json.dumps(
                {"error": {"reason": result.error.reason, "message": result.error.message}, "sequence": result.sequence}
            )
            + "\n"
        )
    for event in result.events:
        out.write(
            json.dumps(
                {
                    "event": event.type.value,
                    "track_id": event.track_id,
                    "text": event.text,
                    "confidence": round(event.confidence, 4),
                    "polygon": [[round(x, 1), round(y, 1)] for x, y in event.polygon],
                    "sequence": result.sequence,
                    "capture_time": result.capture_time,
                    "latency_ms": round((now - result.capture_time) * 1000, 1) if result.capture_time else None,
                    **({"previous_text": event.previous_text} if event.previous_text else {}),
                    "candidates": [
                        {"text": c.text, "score": round(c.score, 4), "frames": c.frames, "accepted": c.accepted}
                        for c in event.candidates
                    ],
                    **({"fields": [_field_json(f) for f in event.fields]} if event.fields else {}),
                    "final": result.final,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    if frames and not result.final:
        out.write(
            json.dumps(
                {
                    "frame": result.sequence,
                    "capture_time": result.capture_time,
                    "skipped": result.skipped,
                    "lines": [
                        {
                            "track_id": line.track_id,
                            "text": line.text,
                            "confidence": round(line.confidence, 4),
                            "reported": line.reported,
                        }
                        for line in result.lines
                    ],
                    "lines_read": result.lines_read,
                    "frames_dropped": result.frames_dropped,
                    "queue_wait_ms": result.queue_wait_ms,
                    "processing_ms": result.processing_ms,
                    "detected_area": result.detected_area,
                    "frames_ahead": result.frames_ahead,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    out.flush()


class StatusLine:
    """A one-line live status on a terminal: processed frames/s, drops, queue wait, processing time."""

    def __init__(self, out: TextIO, every_s: float = 0.5) -> None:
        self.out, self.every_s = out, every_s
        self.recent: deque[float] = deque()
        self.consumed = self.skipped = self.errors = 0
        self.dropped = 0
        self.last_print = 0.0
        self.wait_ms = self.proc_ms = 0.0

    def update(self, result: FrameResult, source: VideoSource | None = None) -> None:
        now = time.monotonic()
        if result.final:
            return
        self.consumed += 1
        self.skipped += result.skipped
        self.errors += result.error is not None
        self.dropped = result.frames_dropped
        self.wait_ms = 0.8 * self.wait_ms + 0.2 * result.queue_wait_ms
        self.proc_ms = 0.8 * self.proc_ms + 0.2 * result.processing_ms
        self.recent.append(now)
        while self.recent and now - self.recent[0] > 2.0:
            self.recent.popleft()
        if now - self.last_print >= self.every_s:
            self.last_print = now
            span = self.recent[-1] - self.recent[0] if len(self.recent) > 1 else 0.0
            fps = (len(self.recent) - 1) / span if span > 0 else 0.0
            extra = f" | source lost {source.frames_overwritten} reconnects {source.reconnects}" if source else ""
            self.out.write(
                f"\r{fps:5.1f} fps | frames {self.consumed} skipped {self.skipped} "
                f"dropped {self.dropped} errors {self.errors} | wait {self.wait_ms:6.1f} ms "
                f"proc {self.proc_ms:6.1f} ms{extra}   "
            )
            self.out.flush()

    def end(self) -> None:
        self.out.write("\n")
        self.out.flush()
