"""`python -m edge_runtime recognize FILE...`: OCR image files in-process, print text or JSON, draw polygons.

`--json` prints one JSON object per image: {"image": FILE} and the proto3 JSON mapping of
ocr.v1.RecognizeResponse the server would send (``edge_runtime.messages``), as `ocr-client recognize --json`;
a failed image prints {"image": FILE, "error": {"reason", "message"}}. Every failure is one line on stderr,
`error: <message> [<REASON>]`, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge_runtime.arguments import OneLineParser, add_engine_arguments, engine_config
from edge_runtime.errors import OcrError

if TYPE_CHECKING:
    import numpy as np

    from edge_runtime.fields.model import Extraction
    from edge_runtime.pipeline import OcrEngine
    from edge_runtime.types import OcrResult

__all__ = ["main", "COMMANDS"]

COMMANDS = {
    "recognize": "OCR image files: text, --json (lines, words, polygons, timings, provenance) or --draw",
    "stream": "OCR a video file, camera or URL (in-process or --server host:port); text events as JSON lines",
    "document": "read a PDF, TIFF or image page by page: --to json|text|md|hocr|alto|pdf",
    "batch": "read many documents (files, folders, globs) on every core into --out DIR, resumable, with a report",
}
USAGE = "usage: python -m edge_runtime {" + ",".join(COMMANDS) + "} [-h] ..."


def _fail(exc: OcrError, prefix: str = "") -> None:
    print(f"{prefix}error: {exc.message} [{exc.reason}]", file=sys.stderr)


def recognize_main(argv: list[str]) -> int:
    parser = OneLineParser(
        prog="python -m edge_runtime recognize",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per image: the proto3 JSON mapping of RecognizeResponse, plus 'image'",
    )
    parser.add_argument("--draw", type=Path, metavar="DIR", help="write <name>.ocr.png with polygons into DIR")
    parser.add_argument("--skip-detection", action="store_true", help="treat each image as one text line")
    parser.add_argument(
        "--fields",
        default="",
        metavar="SETS",
        help="key field sets: receipt, invoice, form, or a set of --fields-file (comma list); printed after the "
        "text as `set.name = value`, in `fields` / `key_values` of --json",
    )
    parser.add_argument("--fields-file", type=Path, metavar="TOML", help="users' own field sets (docs/fields.md)")
    add_engine_arguments(parser)
    args = parser.parse_args(argv)

    try:
        from edge_runtime.fields import check_sets, load_fields_file

        user = load_fields_file(args.fields_file) if args.fields_file else {}
        asked = check_sets(args.fields.split(","), user)  # a bad fields file or set fails before any model loads
        from edge_runtime.pipeline import OcrEngine

        engine = OcrEngine(engine_config(args))
    except OcrError as exc:
        _fail(exc)
        return 2
    failures = 0
    for path in args.images:
        try:
            image = engine.load_image(path)
            result = engine.recognize(image, skip_detection=args.skip_detection)
        except OcrError as exc:
            failures += 1
            _fail(exc, f"{path}: ")
            if args.json:
                print(
                    json.dumps(
                        {"image": str(path), "error": {"reason": exc.reason, "message": exc.message}},
                        ensure_ascii=False,
                    )
                )
            continue
        found = _fields(engine, image, result, asked, user) if asked and not args.skip_detection else None
        if args.json:
            from edge_runtime.messages import response_json

            print(json.dumps({"image": str(path), **response_json(result, found)}, ensure_ascii=False))
        else:
            if len(args.images) > 1:
                print(f"== {path}")
            print(result.text)
            for f in found.fields if found else ():  # `set.name = value` (the printed text when it differs)
                print(f"{f.field_set}.{f.name} = {f.value}" + (f"  ({f.text})" if f.text != f.value else ""))
            for kv in found.key_values if found else ():
                print(f"form: {kv.key.text} -> {kv.value.text}")
        if args.draw:
            import cv2

            from edge_runtime.draw import draw_result

            args.draw.mkdir(parents=True, exist_ok=True)
            out = args.draw / f"{path.stem}.ocr.png"
            if not cv2.imwrite(str(out), draw_result(image, result)):
                print(f"{path}: error: cannot write {out} [OUTPUT_UNWRITABLE]", file=sys.stderr)
                failures += 1
    return 1 if failures else 0


def _fields(engine: OcrEngine, image: np.ndarray, result: OcrResult, asked: tuple[str, ...], user: dict) -> Extraction:
    """The asked sets' fields, a receipt's header read a second time first (as the server's Recognize does)."""
    from edge_runtime.fields import extract
    from edge_runtime.fields.extract import RECEIPT_SETS
    from edge_runtime.fields.reread import reread_header

    lines = reread_header(engine, image, result.lines) if set(asked) & RECEIPT_SETS else result.lines
    return extract(lines, asked, user)


def _help() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMANDS.items())
    return (
        f"{USAGE}\n\nThe OCR runtime, in-process (no server needed).\n\ncommands:\n{rows}\n\n"
        "`python -m edge_runtime COMMAND --help` shows a command's flags."
    )


def _stream_main(argv: list[str]) -> int:
    from edge_runtime.stream.cli import main as stream_main

    return stream_main(argv)


def _document_main(argv: list[str]) -> int:
    from edge_runtime.document.cli import main as document_main

    return document_main(argv)


def _batch_main(argv: list[str]) -> int:
    from edge_runtime.document.batch import main as batch_main

    return batch_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"recognize": recognize_main, "stream": _stream_main, "document": _document_main, "batch": _batch_main}
    if argv and argv[0] in ("-h", "--help"):
        print(_help())
        return 0
    if not argv or argv[0] not in commands:
        what = f"unknown command {argv[0]!r}" if argv else "no command given"
        print(
            f"python -m edge_runtime: error: {what}; choose one of {', '.join(commands)} [USAGE_INVALID]",
            file=sys.stderr,
        )
        return 2
    try:
        return commands[argv[0]](argv[1:])
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        sys.stderr.close()
        return 0
    except OcrError as exc:
        _fail(exc)
        return 2
    except Exception as exc:  # a bug: still one line, never a traceback
        print(f"error: {type(exc).__name__}: {exc} [INTERNAL]", file=sys.stderr)
        return 1
