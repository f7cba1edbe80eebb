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

from edge_runtime.arguments import OneLineParser, add_engine_arguments, engine_config
from edge_runtime.errors import OcrError

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
    add_engine_arguments(parser)
    args = parser.parse_args(argv)

    try:
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
        if args.json:
            from edge_runtime.messages import response_json

            print(json.dumps({"image": str(path), **response_json(result)}, ensure_ascii=False))
        else:
            if len(args.images) > 1:
                print(f"== {path}")
            print(result.text)
        if args.draw:
            import cv2

            from edge_runtime.draw import draw_result

            args.draw.mkdir(parents=True, exist_ok=True)
            out = args.draw / f"{path.stem}.ocr.png"
            if not cv2.imwrite(str(out), draw_result(image, result)):
                print(f"{path}: error: cannot write {out} [OUTPUT_UNWRITABLE]", file=sys.stderr)
                failures += 1
    return 1 if failures else 0


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
