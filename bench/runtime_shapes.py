"""What each new input shape leaves behind in an OpenVINO CPU model, and what caching it saves per run.

    python -m bench.runtime_shapes [--stage rec|det] [--cache default 0] [--hint bf16] [--model FILE]

The detector sees a new input shape with nearly every page size, the recognizer one per (batch, width bucket).
OpenVINO's CPU plugin keeps shape-specific executors (``CPU_RUNTIME_CACHE_CAPACITY`` records per kind, per
stream) and more besides, so the resident memory grows with the shapes seen, per stream, until their set is
exhausted. This runs one one-thread request over N new shapes (releasing the request's buffers after every ten,
so only what stays per shape remains), then over the same shapes again: the growth per shape, and the time of a
run on a shape already seen, with the cache at its default and off. One process per setting.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["main", "measure"]

REPO = Path(__file__).resolve().parents[1]


def _shapes(stage: str, count: int) -> list[tuple[int, int, int, int]]:
    if stage == "rec":  # the recognizer's buckets: widths 160 + 64 k, batches of 4 and a last one of 1
        return [(b, 3, 48, w) for w in range(160, 1601, 64) for b in (4, 1)][:count]
    return [(1, 3, 736 + 32 * k, 1024) for k in range(count)]  # page heights in the detector's 32-px steps


def measure(stage: str, cache: str, hint: str, count: int, model: str = "") -> dict[str, object]:
    """In this process: compile the model (the bundle's FP32 file unless named) as the server does on one thread,
    run the shapes twice."""
    import openvino as ov

    from bench.allocator import process_mb
    from server.memory_budget import steady_allocator

    steady_allocator()
    core = ov.Core()
    config: dict[str, object] = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": 1,
        "INFERENCE_PRECISION_HINT": hint,
        "ENABLE_CPU_PINNING": False,
    }
    if cache != "default":
        config["CPU_RUNTIME_CACHE_CAPACITY"] = int(cache)
    path = Path(model) if model else REPO / "models" / "cache" / "ppocrv6-small" / f"{stage}.onnx"
    before = process_mb()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    shapes = _shapes(stage, count)
    start = process_mb()
    first = time.perf_counter()
    for i, shape in enumerate(shapes):
        request.infer({"x": rng.random(shape, dtype=np.float32)})
        if i % 10 == 9:
            compiled.release_memory()
    first_s = time.perf_counter() - first
    compiled.release_memory()
    grown = process_mb()
    again = time.perf_counter()
    for shape in shapes:
        request.infer({"x": rng.random(shape, dtype=np.float32)})
    again_s = time.perf_counter() - again
    compiled.release_memory()
    return {
        "stage": stage,
        "model": str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path),
        "compiled_mb": {k: round(start[k] - before[k], 1) for k in start},
        "cache": cache,
        "hint": hint,
        "shapes": len(shapes),
        "mb_per_shape": {k: round((grown[k] - start[k]) / len(shapes), 2) for k in start},
        "first_round_s": round(first_s, 2),
        "seen_round_s": round(again_s, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["rec", "det"], nargs="*", default=["rec", "det"])
    parser.add_argument("--cache", nargs="*", default=["default", "0"], help="CPU_RUNTIME_CACHE_CAPACITY values")
    parser.add_argument("--hint", default="bf16", help="INFERENCE_PRECISION_HINT (f32 on a host without BF16)")
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--model", default="", help="an ONNX or IR file instead of the bundle's FP32 one")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child's own run
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.stage[0], args.cache[0], args.hint, args.count, args.model)))
        return 0
    model = str(Path(args.model).resolve()) if args.model else ""  # the child runs in the repository's root
    rows = []
    for stage in args.stage:
        for cache in args.cache:
            child = [sys.executable, "-m", "bench.runtime_shapes", "--one", "--stage", stage, "--cache", cache]
            out = subprocess.run(
                [*child, "--hint", args.hint, "--count", str(args.count), "--model", model],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
