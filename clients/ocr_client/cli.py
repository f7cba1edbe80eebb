"""`ocr-client`: recognize image files on an OCR server, show its info and health, or load-test it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from clients.ocr_client.client import OcrCallError, OcrClient, to_dict

__all__ = ["main"]


def _client(args: argparse.Namespace) -> OcrClient:
    return OcrClient(args.target, timeout=args.timeout)


def cmd_recognize(args: argparse.Namespace) -> int:
    failures = 0
    with _client(args) as client:
        for path in args.images:
            try:
                response = client.recognize(path, skip_detection=args.skip_detection)
            except (OcrCallError, OSError) as exc:
                failures += 1
                reason = getattr(exc, "reason", None) or type(exc).__name__
                print(f"{path}: error: {getattr(exc, 'message', exc)} [{reason}]", file=sys.stderr)
                if args.json:
                    print(json.dumps({"image": str(path), "error": {"reason": reason, "message": str(exc)}}))
                continue
            if args.json:
                print(json.dumps({"image": str(path), **to_dict(response)}, ensure_ascii=False))
            else:
                if len(args.images) > 1:
                    print(f"== {path}")
                print(response.text)
    return 1 if failures else 0


def cmd_info(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            print(json.dumps(to_dict(client.server_info()), indent=2))
        except OcrCallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            status = client.health(args.service)
        except OcrCallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(status)
    return 0 if status == "SERVING" else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from clients.ocr_client.load import run_load

    images = [p.read_bytes() for p in args.images]
    with _client(args) as client:
        client.wait_until_serving(args.timeout or 60)
        call = lambda data: client.recognize(data, skip_detection=args.skip_detection)  # noqa: E731
        rows = [run_load(call, images, c, args.requests or 4 * c, warmup=1) for c in args.concurrency]
    if args.json:
        print(json.dumps({"target": args.target, "images": [str(p) for p in args.images], "results": rows}))
    else:
        print(f"{'conc':>5} {'reqs':>5} {'errors':>6} {'req/s':>8} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
        for r in rows:
            print(f"{r['concurrency']:>5} {r['requests']:>5} {r['errors']:>6} {r['throughput_rps']:>8} "
                  f"{r['p50_ms']:>9} {r['p95_ms']:>9} {r['p99_ms']:>9}")
    return 1 if any(r["errors"] for r in rows) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-client", description=__doc__)
    parser.add_argument("--target", default=os.environ.get("OCR_TARGET", "localhost:50051"),
                        help="server address (OCR_TARGET, default localhost:50051)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-call deadline in seconds")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("recognize", help="print the text of image files")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.add_argument("--skip-detection", action="store_true", help="treat each image as one text line")
    p.set_defaults(run=cmd_recognize)
    p = sub.add_parser("info", help="models, backend and limits of the server (JSON)")
    p.set_defaults(run=cmd_info)
    p = sub.add_parser("health", help="grpc.health.v1 status; exit 0 only when SERVING")
    p.add_argument("--service", default="ocr.v1.OcrService", help="service name ('' for the whole server)")
    p.set_defaults(run=cmd_health)
    p = sub.add_parser("bench", help="closed-loop load: throughput and p50/p95/p99 per concurrency")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("-c", "--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("-n", "--requests", type=int, default=0, help="requests per concurrency (default 4 x N)")
    p.add_argument("--skip-detection", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
