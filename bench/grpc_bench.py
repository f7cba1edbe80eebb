"""Serving throughput and latency: the gRPC server vs the in-process engine vs RapidOCR 3.10, same images.

Closed loop: at each concurrency N, N threads send requests back to back (images round-robin) until
``--requests`` have completed; reported are requests/s and p50/p95/p99 latency per system and N, and whether
every answer's text equals that system's answer for the same image at the first level (``same``). Every
system gets the same *encoded* image bytes and pays for its own decoding:

- ``grpc``: ``python -m server`` in a subprocess (port 0, models from OCR_* env), called with the Python client
  (or an already running server with ``--target``). Concurrent calls share recognizer batches on the server.
- ``engine``: ``OcrEngine.recognize`` in this process from N threads (same EngineConfig as the server).
- ``rapidocr``: RapidOCR 3.10 defaults (PP-OCRv6 small, ONNX Runtime FP32) in this process from N threads.

    python -m bench.grpc_bench [--set sroie --limit 8 | --images a.jpg b.png] [--max-side 0]
                               [--systems grpc engine rapidocr] [--concurrency 1 4 16] [--requests 0]
                               [--warmup 2] [--target host:port] [--server-env OCR_X=1 ...]
                               [--json bench/out/grpc_bench.json]

Concurrency on 2 cores (c8 / c1 pages/s through gRPC) is compared as ``--concurrency 1 8`` on document pages,
e.g. ``--images /work/shared/eval/sroie/images/*.jpg models/cache/synth/synth_receipts/images/*_000?.jpg``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from clients.ocr_client.load import run_load

__all__ = ["load_images", "main", "provenance_of", "ServerProcess"]

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = ("grpc", "engine", "rapidocr")


def load_images(paths: list[Path], max_side: int = 0) -> list[bytes]:
    """Encoded bytes of each image; with ``max_side`` the larger ones are shrunk (and re-encoded as PNG)."""
    images = []
    for path in paths:
        data = path.read_bytes()
        if max_side:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{path}: not an image OpenCV can decode")
            scale = max_side / max(image.shape[:2])
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                data = cv2.imencode(".png", image)[1].tobytes()
        images.append(data)
    return images


def _set_images(eval_dir: Path, name: str, limit: int) -> list[Path]:
    from edge_runtime.evaluation.datasets import load_set

    return [sample.image for sample in load_set(name, eval_dir, limit)]


class ServerProcess:
    """``python -m server`` on a free loopback port in a subprocess, its log collected; ``target`` once it is
    listening. ``extra``: more server flags; the result cache is off so that repeated images are computed."""

    def __init__(self, extra: Sequence[str] = (), env: dict[str, str] | None = None, root: Path = REPO) -> None:
        env = {
            **os.environ,
            **(env or {}),
            "OCR_CACHE": "0",
            "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", *extra],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        self.log: list[str] = []
        for line in self.process.stdout:
            self.log.append(line)
            match = re.search(r"ocr server listening on port (\d+)", line)
            if match:
                self.target = f"127.0.0.1:{match.group(1)}"
                threading.Thread(target=self.log.extend, args=(self.process.stdout,), daemon=True).start()
                return
        raise RuntimeError("server did not start:\n" + "".join(self.log[-40:]))

    def close(self) -> int | None:
        """Stop it (SIGTERM, then SIGKILL after 120 s) unless it has exited; its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.returncode


def provenance_of(info: Any) -> dict[str, Any]:
    """What served, from a ``server_info()`` answer (empty when the server reports no provenance)."""
    p = info.provenance
    if p is None:
        return {}
    return {"bundle": p.bundle_id, "backend": p.backend, "precision": dict(p.stage_precision)}


# a system under load: its call on encoded image bytes, what serves (provenance), and how to close it
System = tuple[Callable[[bytes], Any], dict[str, Any], Callable[[], None]]


def _grpc_system(target: str | None, env: dict[str, str] | None = None) -> System:
    from clients.ocr_client import OcrClient

    server = None if target else ServerProcess(env=env)
    address = server.target if server is not None else str(target)
    client = OcrClient(address, timeout=300)
    client.wait_until_serving(300)
    provenance = provenance_of(client.server_info())

    def close() -> None:
        client.close()
        if server is not None:
            server.close()

    return (lambda data: client.recognize(data)), provenance, close


def _engine_system() -> System:
    from edge_runtime.config import EngineConfig, from_env
    from edge_runtime.pipeline import OcrEngine

    engine = OcrEngine(from_env(EngineConfig))
    engine.warm_up()
    p = engine.provenance
    return engine.recognize, {"bundle": p.bundle, "backend": p.backend, "precision": p.precision}, lambda: None


def _rapidocr_system() -> System:
    from rapidocr import RapidOCR

    engine = RapidOCR()
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return (
        engine,
        {"bundle": "rapidocr 3.10 defaults (PP-OCRv6 small)", "backend": "onnxruntime", "precision": "fp32"},
        lambda: None,
    )


def _recording(call: Callable[[bytes], Any], images: list[bytes], texts: dict[int, set[str]]) -> Callable[[int], Any]:
    """``call`` on image ``k`` that also records the text it read into ``texts[k]`` (from any thread)."""
    lock = threading.Lock()

    def recorded(k: int) -> Any:
        result = call(images[k])
        with lock:
            texts.setdefault(k, set()).add(_text_of(result))
        return result

    return recorded


def measure(
    system: str, call: Callable[[bytes], Any], images: list[bytes], levels: list[int], requests: int, warmup: int = 2
) -> list[dict[str, Any]]:
    rows = []
    reference: dict[int, str] = {}
    for concurrency in levels:
        count = requests or max(16, 4 * concurrency)
        texts: dict[int, set[str]] = {}
        row = run_load(_recording(call, images, texts), list(range(len(images))), concurrency, count, warmup=warmup)
        row["system"] = system
        if not reference:
            reference = {k: next(iter(v)) for k, v in texts.items() if len(v) == 1}
        row["same"] = all(len(v) == 1 and v == {reference.get(k, *v)} for k, v in texts.items())
        rows.append(row)
        print(
            f"  {system:<9} c={concurrency:<3} {row['throughput_rps']:>7} req/s  p50 {row['p50_ms']} ms  "
            f"p95 {row['p95_ms']} ms  p99 {row['p99_ms']} ms  errors {row['errors']}  same {row['same']}",
            file=sys.stderr,
        )
    return rows


def _text_of(result: Any) -> str:
    text = getattr(result, "text", None)
    return text if isinstance(text, str) else repr(getattr(result, "txts", result))


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| system | concurrency | requests | errors | req/s | p50 ms | p95 ms | p99 ms | same |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['system']} | {r['concurrency']} | {r['requests']} | {r['errors']} | "
            f"{r['throughput_rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['same']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.grpc_bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--eval-dir",
        type=Path,
        default=None,
        help="labelled sets (default: $OCR_EVAL_DIR, ../shared/eval, or the project's rendered sets)",
    )
    parser.add_argument("--set", default="sroie", help="a set of --eval-dir (default sroie)")
    parser.add_argument("--limit", type=int, default=8, help="images taken from the set")
    parser.add_argument("--images", nargs="+", type=Path, help="image files instead of an eval set")
    parser.add_argument("--max-side", type=int, default=0, help="shrink images to this longest side (0: as is)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=0, help="requests per level (default max(16, 4 x N))")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted calls before each level")
    parser.add_argument("--target", help="benchmark this running server instead of starting one")
    parser.add_argument(
        "--server-env",
        nargs="+",
        default=[],
        metavar="OCR_X=V",
        help="environment of the started server (e.g. OCR_BATCH_STAGES=none)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    from bench.accuracy import default_eval_dir

    paths = args.images or _set_images(args.eval_dir or default_eval_dir(), args.set, args.limit)
    images = load_images(paths, args.max_side)
    server_env = dict(item.split("=", 1) for item in args.server_env)
    makers = {
        "grpc": lambda: _grpc_system(args.target, server_env),
        "engine": _engine_system,
        "rapidocr": _rapidocr_system,
    }
    rows, systems = [], {}
    for name in args.systems:
        print(f"== {name}", file=sys.stderr)
        call, provenance, close = makers[name]()
        try:
            rows += measure(name, call, images, args.concurrency, args.requests, args.warmup)
        finally:
            close()
        systems[name] = provenance
    report = {
        "images": [str(p) for p in paths],
        "max_side": args.max_side,
        "systems": systems,
        "results": rows,
        "server_env": server_env,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(markdown(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if any(r["errors"] or not r["same"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
