"""Per-stage and end-to-end latency of FP32 and INT8 on both backends, beside RapidOCR 3.10 FP32, same images.

Every configuration reads the same decoded pages (BGR arrays, so image decoding is not timed), after one
warm-up page; each page is run ``--repeat`` times and the median per page is kept. The table gives the
median over pages of each stage and of the whole call, and pages/s (pages / summed end-to-end time).
With ``--accuracy`` each configuration is also scored on the eval sets (``bench.accuracy.evaluate_set``),
and ``--json`` writes everything for ``bench/plot.py``.

    python -m bench.latency [--sets sroie icdar15_test page_tesseract] [--limit 8] [--repeat 3]
                            [--backends openvino onnxruntime] [--peer rapidocr|none] [--accuracy] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Config", "ours", "rapidocr", "measure", "markdown_table", "main"]

STAGES = ("det", "cls", "rec", "total")
# Stage timings (ms) of one call on one decoded page.
TimedFn = Callable[[np.ndarray], dict[str, float]]


@dataclass
class Config:
    """One system under test: a timed call on a decoded page, and a ``recognize_fn`` for accuracy."""

    name: str
    timed: TimedFn
    recognize_fn: Callable[[Path, bool], list] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def ours(backend: str, precision: str, threads: int = 0) -> Config:
    from bench.accuracy import engine_recognizer
    from edge_runtime.config import EngineConfig
    from edge_runtime.pipeline import OcrEngine

    engine = OcrEngine(EngineConfig(backend=backend, precision=precision, threads=threads))
    engine.warm_up()
    int8 = [s for s in ("det", "rec") if engine.precision[s] == "int8"]
    label = "INT8 " + "+".join(int8) if int8 else "FP32"

    def timed(page: np.ndarray) -> dict[str, float]:
        t0 = time.perf_counter()
        result = engine.recognize(page)
        ms = dict(result.timings_ms)
        ms["total"] = (time.perf_counter() - t0) * 1000
        return ms

    return Config(f"{engine.bundle.id} {backend} {label}", timed, engine_recognizer(engine),
                  {"backend": backend, "precision": dict(engine.precision), "threads": engine.config.num_threads})


def rapidocr() -> Config:
    """RapidOCR 3.10 with its defaults (ONNX Runtime FP32, angle classifier on): the peer."""
    from rapidocr import RapidOCR

    from bench.peers import rapidocr_recognizer

    engine = RapidOCR()
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)

    def timed(page: np.ndarray) -> dict[str, float]:
        t0 = time.perf_counter()
        result = engine(page)
        total = (time.perf_counter() - t0) * 1000
        parts = list(getattr(result, "elapse_list", []) or []) + [None] * 3
        ms = {stage: (v * 1000 if isinstance(v, float) else 0.0) for stage, v in zip(("det", "cls", "rec"), parts)}
        ms["total"] = total
        return ms

    return Config("rapidocr 3.10 FP32 (defaults)", timed, rapidocr_recognizer(), {"backend": "onnxruntime"})


def _pages(eval_dir: Path, sets: Sequence[str], limit: int) -> list[tuple[str, np.ndarray]]:
    from bench.datasets import load_set
    from edge_runtime.imageio import load_image

    return [(f"{s}/{sample.image.name}", load_image(sample.image, 40_000_000, 4))
            for s in sets for sample in load_set(s, eval_dir, limit)]


def measure(config: Config, pages: Sequence[tuple[str, np.ndarray]], repeat: int) -> dict[str, Any]:
    """Median per page over ``repeat`` runs, then median over pages per stage; pages/s from the totals."""
    config.timed(pages[0][1])  # warm-up: first-call allocations and graph compilation
    per_page = []
    for _, page in pages:
        runs = [config.timed(page) for _ in range(repeat)]
        per_page.append({s: statistics.median(r.get(s, 0.0) for r in runs) for s in STAGES})
    median = {s: round(statistics.median(p[s] for p in per_page), 2) for s in STAGES}
    total_s = sum(p["total"] for p in per_page) / 1000
    return {"median_ms": median, "pages_per_s": round(len(pages) / total_s, 3) if total_s else None,
            "pages": len(pages), "repeat": repeat}


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    head = ["configuration", "det ms", "cls ms", "rec ms", "end-to-end ms", "pages/s", "word F1"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        m = row["median_ms"]
        f1 = row.get("accuracy", {}).get("word_f1")
        out.append("| " + " | ".join([row["name"], f"{m['det']:.1f}", f"{m['cls']:.1f}", f"{m['rec']:.1f}",
                                       f"{m['total']:.1f}", f"{row['pages_per_s']:.2f}",
                                       "–" if f1 is None else f"{100 * f1:.2f}"]) + " |")
    return "\n".join(out)


def _accuracy(config: Config, eval_dir: Path, sets: Sequence[str], limit: int | None) -> dict[str, Any]:
    from bench.accuracy import evaluate_set

    results = [evaluate_set(config.recognize_fn, s, eval_dir, limit) for s in sets]  # type: ignore[arg-type]
    f1s = [r["word_f1"] for r in results if r["word_f1"] is not None]
    return {"word_f1": statistics.mean(f1s) if f1s else None, "per_set": {r["set"]: r["value"] for r in results},
            "limit": limit}


def main(argv: Sequence[str] | None = None) -> int:
    from bench.accuracy import default_eval_dir

    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=None)
    parser.add_argument("--sets", nargs="+", default=["sroie", "icdar15_test", "page_tesseract"])
    parser.add_argument("--limit", type=int, default=8, help="first N pages of each set")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["openvino", "onnxruntime"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "auto"],
                        help="fp32 | auto (published INT8 stages) | int8 (every built INT8 stage)")
    parser.add_argument("--threads", type=int, default=0, help="our engines' threads (0: all cores)")
    parser.add_argument("--peer", default="rapidocr", choices=("rapidocr", "none"))
    parser.add_argument("--accuracy", action="store_true", help="also score each configuration on --sets")
    parser.add_argument("--accuracy-limit", type=int, default=None, help="first N images per set for --accuracy")
    parser.add_argument("--json", type=Path, default=None, help="write the rows (input of bench/plot.py)")
    args = parser.parse_args(argv)

    eval_dir = args.eval_dir or default_eval_dir()
    pages = _pages(eval_dir, args.sets, args.limit)
    configs = [ours(b, p, args.threads) for b in args.backends for p in args.precisions]
    if args.peer == "rapidocr":
        configs.append(rapidocr())
    rows = []
    for config in configs:  # configurations run one after another on the same pages (never concurrently)
        row = {"name": config.name, **config.info, **measure(config, pages, args.repeat)}
        if args.accuracy:
            row["accuracy"] = _accuracy(config, eval_dir, args.sets, args.accuracy_limit)
        rows.append(row)
        print(f"{config.name}: {row['median_ms']['total']:.1f} ms/page", file=sys.stderr)
    print(f"{len(pages)} pages ({', '.join(args.sets)}; first {args.limit} each), median of {args.repeat} runs\n")
    print(markdown_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"sets": args.sets, "limit": args.limit, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
