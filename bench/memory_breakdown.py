"""Where the memory goes: each stage of one page alone, then N concurrent callers on the data plane, budget on/off.

    python -m bench.memory_breakdown [--clients 16] [--seconds 60] [--limit 4] [--budget-mb -1 0 1000]
                                     [--out bench/out/memory]

Python's allocations (numpy arrays included) are traced with ``tracemalloc``; what the runtimes (OpenVINO, ONNX
Runtime, OpenCV, Pillow) allocate outside it is the rest of the resident memory (RSS minus traced). The peak RSS
of one stage is read from ``VmHWM`` after resetting it (``/proc/self/clear_refs``), so short peaks are not missed.
Part two runs ``clients`` loops of ``OcrPlane.recognize`` over the pages (the server's own admission and stages,
without gRPC) and samples RSS and traced bytes; at the traced peak a snapshot says which lines of our code hold
the arrays. Pages: ``bench.memory_pages`` (receipts, forms, column pages, 300-dpi scans).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import threading
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.allocator import heap_mb
from bench.memory_pages import document_pages
from bench.soak import rss_mb

__all__ = ["main", "stage_breakdown", "concurrent_breakdown"]

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
# our source lines that hold arrays -> what they are (the rest is grouped by file)
CATEGORIES = {
    "imageio.py": "decoded image (BGR) and decode copies",
    "detect.py": "detector input tensor / post-processing masks",
    "backends": "model outputs (probability maps, logits) as numpy",
    "geometry.py": "line crops",
    "recognize.py": "recognizer input tensors",
    "classify.py": "angle classifier input tensors",
    "pipeline.py": "stacked batches, turned crops",
}


def _hwm_reset() -> None:
    with contextlib.suppress(OSError):  # not Linux: the stage's peak is then the process's peak so far
        Path("/proc/self/clear_refs").write_text("5")


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Stage:
    """Peak RSS and peak traced bytes over a block, each relative to the block's start (MiB)."""

    def __enter__(self) -> _Stage:
        _hwm_reset()
        tracemalloc.reset_peak()
        self.rss0 = _status_mb("VmRSS")
        self.traced0 = tracemalloc.get_traced_memory()[0] / MIB
        return self

    def __exit__(self, *exc: object) -> None:
        self.rss_peak = _status_mb("VmHWM") - self.rss0
        self.traced_peak = tracemalloc.get_traced_memory()[1] / MIB - self.traced0

    def row(self) -> dict[str, float]:
        return {
            "rss_peak_mb": round(self.rss_peak, 1),
            "traced_peak_mb": round(self.traced_peak, 1),
            "untraced_mb": round(max(0.0, self.rss_peak - self.traced_peak), 1),
        }


def stage_breakdown(engine: Any, pages: Sequence[bytes]) -> list[dict[str, Any]]:
    """Each page alone through the engine's own sequence, stage by stage (decode, then each model run and the
    CPU work after it): peak RSS, peak traced bytes and their difference (the runtimes' own)."""
    from edge_runtime import detect

    rows = []
    for page in pages:
        with _Stage() as decode:
            image = engine.load_image(page)
        height, width = image.shape[:2]
        del image
        target = detect.target_size(height, width, engine.det_params)
        row: dict[str, Any] = {"size": f"{width}x{height}", "det_input": f"{target[1]}x{target[0]}"}
        row["decode"] = decode.row()
        steps = engine.page_steps(page)
        with _Stage() as cpu:
            runs = next(steps)
        row["decode+det_pre"] = cpu.row()
        while True:
            stage = runs[0].stage if runs else "none"
            with _Stage() as model:
                outputs = engine.answer(runs)
            del runs
            row.setdefault(f"run_{stage}", model.row())
            with _Stage() as after:
                try:
                    runs = steps.send(outputs)
                except StopIteration:
                    break
                finally:
                    del outputs
            row.setdefault(f"after_{stage}", after.row())
        row[f"after_{stage}"] = after.row()
        rows.append(row)
    return rows


def _category(filename: str) -> str:
    for key, name in CATEGORIES.items():
        if key in filename:
            return name
    return Path(filename).name


async def _concurrent(
    factory: Any, pages: Sequence[bytes], clients: int, seconds: float, budget_mb: float
) -> dict[str, Any]:
    from server.config import ServerConfig
    from server.plane import OcrPlane

    plane = OcrPlane(factory, ServerConfig(port=0, memory_budget_mb=budget_mb, max_concurrent_rpcs=max(64, clients)))
    await plane.load()
    pid = os.getpid()
    base = rss_mb(pid) or 0.0
    samples: list[tuple[float, float, float]] = []
    latencies: list[float] = []
    errors: dict[str, int] = {}
    peak: dict[str, Any] = {"traced": 0.0, "snapshot": None}
    stop = time.monotonic() + seconds

    async def client(k: int) -> None:
        i = k
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                await plane.recognize(pages[i % len(pages)], deadline=time.monotonic() + 120)
                latencies.append(time.perf_counter() - started)
            except Exception as exc:  # counted by reason, the bench goes on
                reason = getattr(exc, "reason", type(exc).__name__)
                errors[reason] = errors.get(reason, 0) + 1
            i += clients

    heap: list[dict[str, float]] = []  # glibc's split, every 0.5 s (it walks the arenas)

    def sampler(done: threading.Event) -> None:
        started = time.monotonic()
        while not done.wait(0.05):
            if len(samples) % 10 == 0:
                heap.append(heap_mb())
            traced = tracemalloc.get_traced_memory()[0] / MIB
            samples.append((time.monotonic() - started, rss_mb(pid) or 0.0, traced))
            if traced > peak["traced"] * 1.05:
                peak["traced"], peak["rss"] = traced, samples[-1][1]
                peak["snapshot"] = tracemalloc.take_snapshot()

    done = threading.Event()
    thread = threading.Thread(target=sampler, args=(done,), daemon=True)
    thread.start()
    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.perf_counter() - started
    done.set()
    thread.join()
    await plane.close()
    held: dict[str, float] = {}
    if peak["snapshot"] is not None:
        for stat in peak["snapshot"].statistics("filename"):
            name = _category(stat.traceback[0].filename)
            held[name] = held.get(name, 0.0) + stat.size / MIB
    ordered = sorted(latencies)
    return {
        "budget_mb": budget_mb,
        "budget_bytes": plane.memory.capacity,
        "clients": clients,
        "images": len(latencies),
        "images_per_s": round(len(latencies) / elapsed, 3),
        "p50_s": round(statistics.median(ordered), 3) if ordered else None,
        "p99_s": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3) if ordered else None,
        "errors": errors,
        "rss_start_mb": round(base, 1),
        "rss_mean_mb": round(statistics.fmean(s[1] for s in samples), 1) if samples else None,
        "rss_peak_mb": round(max((s[1] for s in samples), default=0.0), 1),
        "traced_peak_mb": round(peak["traced"], 1),
        # arena: many small allocations (the runtime's per-shape executors); mmap: large buffers (docs/memory.md)
        "heap_start_mb": heap[0] if heap else {},
        "heap_peak_mb": {k: max(h.get(k, 0.0) for h in heap) for k in ("arena", "mmap")} if heap else {},
        "rss_at_traced_peak_mb": round(peak.get("rss", 0.0), 1),
        "held_at_traced_peak_mb": {k: round(v, 1) for k, v in sorted(held.items(), key=lambda kv: -kv[1])[:10]},
    }


def concurrent_breakdown(
    factory: Any, pages: Sequence[bytes], clients: int, seconds: float, budget_mb: float
) -> dict[str, Any]:
    return asyncio.run(_concurrent(factory, pages, clients, seconds, budget_mb))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0, help="per budget in part two")
    parser.add_argument("--limit", type=int, default=4, help="pages of each kind")
    parser.add_argument("--budget-mb", type=float, nargs="*", default=[0.0, -1.0], help="0: off, -1: derived")
    parser.add_argument("--skip-stages", action="store_true", help="only part two")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "memory")
    args = parser.parse_args(argv)

    from edge_runtime.config import EngineConfig, from_env
    from server.app import default_engine_factory

    factory = default_engine_factory(from_env(EngineConfig))
    pages = document_pages(args.limit)
    tracemalloc.start()
    report: dict[str, Any] = {"pages": len(pages), "page_bytes": sum(len(p) for p in pages)}
    if not args.skip_stages:
        engine = factory()
        engine.warm_up()
        report["models_rss_mb"] = round(rss_mb(os.getpid()) or 0.0, 1)
        report["stages"] = stage_breakdown(engine, pages)
        del engine
    report["concurrent"] = [
        concurrent_breakdown(factory, pages, args.clients, args.seconds, budget) for budget in args.budget_mb
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "breakdown.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
