"""`python -m edge_runtime recognize FILE...`: OCR image files in-process, print text or JSON, draw polygons."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from edge_runtime.config import BACKENDS, DEVICES, PRECISIONS, EngineConfig, from_env
from edge_runtime.errors import OcrError


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that builds an engine (values default to OCR_* env, then built-ins)."""
    parser.add_argument("--bundle", help="model bundle id (python -m models list)")
    parser.add_argument("--backend", choices=BACKENDS)
    parser.add_argument("--device", choices=DEVICES)
    parser.add_argument("--precision", choices=PRECISIONS)
    parser.add_argument("--threads", type=int)


def engine_config(args: argparse.Namespace) -> EngineConfig:
    return from_env(EngineConfig, bundle=args.bundle, backend=args.backend, device=args.device,
                    precision=args.precision, threads=args.threads)


def recognize_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_runtime recognize", description=__doc__)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true", help="one JSON object per image")
    parser.add_argument("--draw", type=Path, metavar="DIR", help="write <name>.ocr.png with polygons into DIR")
    parser.add_argument("--skip-detection", action="store_true", help="treat each image as one text line")
    add_engine_arguments(parser)
    args = parser.parse_args(argv)

    from edge_runtime.pipeline import OcrEngine

    try:
        engine = OcrEngine(engine_config(args))
    except OcrError as exc:
        print(f"error: {exc.message} [{exc.reason}]", file=sys.stderr)
        return 2
    failures = 0
    for path in args.images:
        try:
            image = engine.load_image(path)
            result = engine.recognize(image, skip_detection=args.skip_detection)
        except OcrError as exc:
            failures += 1
            print(f"{path}: error: {exc.message} [{exc.reason}]", file=sys.stderr)
            if args.json:
                print(json.dumps({"image": str(path), "error": {"reason": exc.reason, "message": exc.message}}))
            continue
        if args.json:
            print(json.dumps({"image": str(path), **result.to_dict()}, ensure_ascii=False))
        else:
            if len(args.images) > 1:
                print(f"== {path}")
            print(result.text)
        if args.draw:
            from edge_runtime.draw import draw_result

            args.draw.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.draw / f"{path.stem}.ocr.png"), draw_result(image, result))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"recognize": recognize_main}
    try:  # the camera/stream command lives in its own module and is optional until it exists
        from edge_runtime.stream.cli import main as stream_main

        commands["stream"] = stream_main
    except ImportError:
        pass
    if not argv or argv[0] not in commands:
        print(f"usage: python -m edge_runtime {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])
