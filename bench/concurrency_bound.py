"""How much concurrency can add on this host: one engine on every thread against one one-thread engine per core.

A server's throughput at any concurrency is at most what independent one-thread engines read side by side, one
per core, each in its own process (no GIL, no shared lanes). Divided by what one engine reads on every thread
(what a lone call gets), that is the most c8/c1 can reach here. The second part times OpenVINO's CPU pinning:
one-thread recognizer runs in several processes, pinned (OpenVINO's default) and unpinned (what the backend
sets); pinned, every process starts at core 0.

    python -m bench.concurrency_bound [--set sroie --limit 12 | --images a.jpg ...] [--rec-batch-size 0]
                                      [--processes 0] [--pin-runs 40]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _pages(paths: Sequence[Path], threads: int, rec_batch_size: int, barrier: Any) -> float:
    """Pages/s of one engine reading every page once, after a warm-up read and ``barrier``."""
    from edge_runtime.config import EngineConfig
    from edge_runtime.pipeline import OcrEngine

    data = [p.read_bytes() for p in paths]
    engine = OcrEngine(
        EngineConfig(
            backend="openvino", threads=threads, rec_streams=1 if threads == 1 else 0, rec_batch_size=rec_batch_size
        )
    )
    for image in data:
        engine.recognize(image)
    barrier.wait()
    started = time.perf_counter()
    for image in data:
        engine.recognize(image)
    return len(data) / (time.perf_counter() - started)


def _rec_runs(pinned: bool, runs: int, barrier: Any) -> float:
    """Recognizer batches (8 x 48 x 320) per second on one OpenVINO thread, pinned or not."""
    import numpy as np
    import openvino as ov

    from models import load_bundle

    compiled = ov.Core().compile_model(
        str(load_bundle().path("rec")),
        "CPU",
        {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1, "ENABLE_CPU_PINNING": pinned},
    )
    request = compiled.create_infer_request()
    batch = np.random.default_rng(0).random((8, 3, 48, 320), dtype=np.float32)
    request.infer({0: batch})
    barrier.wait()
    started = time.perf_counter()
    for _ in range(runs):
        request.infer({0: batch})
    return runs / (time.perf_counter() - started)


def _side_by_side(n: int, target: Any, *args: Any) -> list[float]:
    """``target(*args, barrier)`` in ``n`` processes at once; their results."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Manager().Barrier(n)
    with ctx.Pool(n) as pool:
        return pool.starmap(target, [(*args, barrier)] * n)


def main(argv: Sequence[str] | None = None) -> int:
    from bench.accuracy import default_eval_dir
    from edge_runtime.evaluation.datasets import load_set

    parser = argparse.ArgumentParser(prog="python -m bench.concurrency_bound", description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=None, help="labelled sets (default as bench.accuracy)")
    parser.add_argument("--set", default="sroie", help="a set of --eval-dir (default sroie)")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--images", nargs="+", type=Path, help="image files instead of a set")
    parser.add_argument("--rec-batch-size", type=int, default=0, help="0: the engine's default")
    parser.add_argument("--processes", type=int, default=0, help="one-thread engines side by side (0: one per core)")
    parser.add_argument("--pin-runs", type=int, default=40, help="recognizer runs per process when timing pinning")
    args = parser.parse_args(argv)
    paths = args.images or [s.image for s in load_set(args.set, args.eval_dir or default_eval_dir(), args.limit)]
    n = args.processes or os.cpu_count() or 1

    one = _side_by_side(1, _pages, paths, 0, args.rec_batch_size)[0]
    each = _side_by_side(n, _pages, paths, 1, args.rec_batch_size)
    print(
        f"{len(paths)} pages; one engine on every thread: {one:.3f} pages/s; {n} one-thread engines side by "
        f"side: {sum(each):.3f} pages/s ({' + '.join(f'{x:.3f}' for x in each)}); bound on cN/c1: "
        f"{sum(each) / one:.2f}x"
    )
    for pinned in (True, False):
        runs = _side_by_side(n, _rec_runs, pinned, args.pin_runs)
        print(
            f"OpenVINO one-thread recognizer, {n} processes, {'pinned' if pinned else 'unpinned'}: "
            + ", ".join(f"{r:.1f}" for r in runs)
            + " batches/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
