"""`ocr-client`: recognize image files or documents on an OCR server, show its info and health, or load-test it.

Every failure is one line on stderr, `error: <message> [<REASON>]`, and a non-zero exit. `recognize --json`
prints one JSON object per image: {"image": FILE} and the proto3 JSON mapping of ocr.v1.RecognizeResponse
(field names as in the .proto), the same shape as `python -m edge_runtime recognize --json` and the Node
client's `recognize --json`; a failed image prints {"image": FILE, "error": {"code", "reason", "message"}}.
`document` takes the arguments of `python -m edge_runtime document` and prints what it prints
(``clients.ocr_client.document_cli``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from clients.ocr_client.document_cli import add_parser as add_document_parser

if TYPE_CHECKING:  # imported where used: loading it needs grpc and the generated code, after the arguments parse
    from clients.ocr_client.client import OcrClient

__all__ = ["main", "build_parser"]

DEFAULT_TIMEOUT = 60.0  # seconds per call; `document` has no deadline unless --timeout says

COMMANDS = ("recognize", "document", "info", "health", "bench")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line with a stable reason, like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} [USAGE_INVALID]\n")


def _reason(exc: BaseException) -> str:
    from clients.ocr_client.results import OcrCallError

    if isinstance(exc, OcrCallError):
        return exc.reason or exc.code.name
    reason = getattr(exc, "reason", None)  # CredentialsError's, or any other error that carries one
    if isinstance(reason, str):
        return reason
    if isinstance(exc, OSError):
        return "IMAGE_UNREADABLE"  # the reason the in-process CLI gives for a file it cannot read
    return "CLIENT_ERROR"


def _error_line(exc: BaseException, prefix: str = "", hint: str = "") -> str:
    """The one line a failure prints: ``error: <message> (<code>); <hint> [REASON]``."""
    message = getattr(exc, "message", None) or (
        f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
    )
    code = getattr(exc, "code", None)
    where = f" ({code.name})" if code is not None and getattr(exc, "reason", None) else ""
    return f"{prefix}error: {message}{where}{f'; {hint}' if hint else ''} [{_reason(exc)}]"


def connection_hint(exc: BaseException, args: argparse.Namespace) -> str:
    """What to check when a call never reached the server (UNAVAILABLE with no reason: gRPC's own failure, such as a
    refused TLS handshake, whose message names no cause), for the error line; "" for any other error."""
    from clients.ocr_client.results import OcrCallError

    if not isinstance(exc, OcrCallError) or exc.code.name != "UNAVAILABLE" or exc.reason:
        return ""
    target = getattr(args, "target", "the target")
    if getattr(args, "ca", None) or getattr(args, "tls", False):
        return (
            f"hint: no server answered at {target}, or the TLS handshake failed: check that --ca signed the "
            "server's certificate (and --server-name matches it), and, where the server asks for client "
            "certificates, that --cert/--key come from the CA it trusts"
        )
    return (
        f"hint: no server answered at {target}; if it serves TLS, pass --ca (and --cert/--key where it asks for a "
        "client certificate)"
    )


def _error_json(exc: BaseException) -> dict[str, Any]:
    from clients.ocr_client.results import OcrCallError

    error: dict[str, Any] = {"reason": _reason(exc), "message": getattr(exc, "message", None) or str(exc)}
    if isinstance(exc, OcrCallError):
        error = {"code": exc.code.value[0], **error}
    return error


class CredentialsError(Exception):
    """A CA, certificate or key file that cannot be read, or a certificate without its key."""

    reason = "CREDENTIALS_UNREADABLE"


def connection_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords OcrClient and FleetClient share (timeout, TLS files, token), from the common flags."""
    return {
        "timeout": DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
        "ca": args.ca,
        "cert": args.cert,
        "key": args.key,
        "token": args.token or None,
        "tls": args.tls,
        "server_name": args.server_name,
    }


def _client(args: argparse.Namespace) -> OcrClient:
    from clients.ocr_client.client import OcrClient

    try:
        return OcrClient(args.target, **connection_options(args))
    except OSError as exc:
        raise CredentialsError(f"{exc.strerror or exc}: {exc.filename}") from None
    except ValueError as exc:
        raise CredentialsError(str(exc)) from None


def _sets(names: str) -> list[str]:
    return [n.strip() for n in names.split(",") if n.strip()]


def cmd_recognize(args: argparse.Namespace) -> int:
    from clients.ocr_client.results import OcrCallError

    failures = 0
    with _client(args) as client:
        for path in args.images:
            try:
                result = client.recognize(path, skip_detection=args.skip_detection, fields=_sets(args.fields))
            except (OcrCallError, OSError) as exc:
                failures += 1
                print(_error_line(exc, f"{path}: "), file=sys.stderr)
                if args.json:
                    print(json.dumps({"image": str(path), "error": _error_json(exc)}, ensure_ascii=False))
                continue
            if args.json:
                print(json.dumps({"image": str(path), **result.to_dict()}, ensure_ascii=False))
            else:
                if len(args.images) > 1:
                    print(f"== {path}")
                print(result.text)
                for f in result.fields:  # after the text: `set.name = value` (the printed text when it differs)
                    print(f"{f.field_set}.{f.name} = {f.value}" + (f"  ({f.text})" if f.text != f.value else ""))
                for kv in result.key_values:
                    print(f"form: {kv.key} -> {kv.value}")
    return 1 if failures else 0


def cmd_info(args: argparse.Namespace) -> int:
    with _client(args) as client:
        info = client.server_info()
    print(json.dumps(info.to_dict(), indent=2, ensure_ascii=False))
    for stage in info.stage_precisions:  # the why, readable at a glance (also in the JSON above)
        print(f"{stage.stage}: {stage.precision} ({stage.reason})", file=sys.stderr)
    optimize = info.models.get("optimize", {})
    if optimize.get("state") == "building":
        eta = optimize.get("eta_seconds", 0)
        print(
            f"background INT8/BF16 build: {100 * optimize.get('progress', 0):.0f} % ({optimize.get('phase', '')})"
            + (f", about {eta / 60:.0f} min left" if eta else ""),
            file=sys.stderr,
        )
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    with _client(args) as client:
        status = client.health(args.service)
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
            print(
                f"{r['concurrency']:>5} {r['requests']:>5} {r['errors']:>6} {r['throughput_rps']:>8} "
                f"{r['p50_ms']:>9} {r['p95_ms']:>9} {r['p99_ms']:>9}"
            )
    return 1 if any(r["errors"] for r in rows) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ocr-client", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--target",
        default=os.environ.get("OCR_TARGET", "localhost:50051"),
        help="server address (OCR_TARGET, default localhost:50051)",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="per-call deadline in seconds (default 60; document: none)"
    )
    env = os.environ.get
    parser.add_argument(
        "--ca",
        type=Path,
        default=env("OCR_CA") or None,
        help="PEM CA that signed the server's certificate: turns TLS on (OCR_CA)",
    )
    parser.add_argument("--tls", action="store_true", help="TLS with the system's CA roots")
    parser.add_argument(
        "--cert", type=Path, default=env("OCR_CERT") or None, help="PEM client certificate for mutual TLS (OCR_CERT)"
    )
    parser.add_argument("--key", type=Path, default=env("OCR_KEY") or None, help="PEM key of --cert (OCR_KEY)")
    parser.add_argument(
        "--token",
        default=env("OCR_TOKEN") or None,
        help="bearer token (prefer OCR_TOKEN: a flag shows in the process list)",
    )
    parser.add_argument("--server-name", default=None, help="name to check the server's certificate against")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    p = sub.add_parser("recognize", help="print the text of image files")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per image: the proto3 JSON mapping of RecognizeResponse, plus 'image'",
    )
    p.add_argument("--skip-detection", action="store_true", help="treat each image as one text line")
    p.add_argument(
        "--fields",
        default="",
        metavar="SETS",
        help="key field sets to read, comma list: receipt, invoice, form or a set of the server's fields file "
        "(printed after the text as `set.name = value`; in `fields` / `key_values` of --json)",
    )
    p.set_defaults(run=cmd_recognize)
    add_document_parser(sub, _client)
    p = sub.add_parser("info", help="models, backend, precision per stage and why, limits of the server (JSON)")
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
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except TimeoutError as exc:
        print(f"error: {exc} [NOT_SERVING]", file=sys.stderr)
        return 1
    except Exception as exc:  # OcrCallError, OSError, anything else: one line, never a traceback
        print(_error_line(exc, hint=connection_hint(exc, args)), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
