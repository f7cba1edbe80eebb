"""``python -m bench.rec_work``: recognizer work per page, configuration A against B (and more), interleaved.

``python -m bench.rec_work --variant "A:" --variant "B:rec_width_step=32" [--sets sroie page_tesseract]
[--limit 8] [--repeat 3] [--json out.json]`` reads the same pages with every variant in turn (page by page,
variant by variant, so load from elsewhere hits them alike) and prints, per variant: ms per page (median of the
repeats, mean over pages), the work asked of the models (runs, rows and input columns per stage, padded
recognizer columns), word F1 on those pages, and the load average before and after. The variants share one set
of model sessions (``OcrEngine.variant``), so they may differ in pipeline knobs but not in backend or precision
(a field that decides which models load is set for all of them). The work figures are exact; the times are as
noisy as the host.

``python -m bench.rec_work --static-shapes [--widths 160 320 640] [--repeat 50]`` times the OpenVINO recognizer
compiled with a dynamic input (as served) against one compiled per width reshaped to a static [N,3,48,W], runs
alternating, on random inputs (time does not depend on the pixels).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.accuracy import default_eval_dir
from bench.latency import parse_variant

__all__ = ["Work", "counted", "page_words", "main"]


@dataclass
class Work:
    """Model work asked for, per stage: runs, rows (lines), input columns, and all-zero (padded) columns."""

    runs: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    columns: dict[str, int] = field(default_factory=dict)
    padded: dict[str, int] = field(default_factory=dict)

    def add(self, stage: str, blob: np.ndarray) -> None:
        self.runs[stage] = self.runs.get(stage, 0) + 1
        self.rows[stage] = self.rows.get(stage, 0) + len(blob)
        self.columns[stage] = self.columns.get(stage, 0) + len(blob) * blob.shape[-1]
        if blob.ndim == 4:  # N x C x H x W; a preprocessed pixel is never exactly 0, padding always is
            self.padded[stage] = self.padded.get(stage, 0) + int((~blob.any(axis=(1, 2))).sum())


def counted(engine: Any, work: Work) -> Callable[[list[Any]], list[np.ndarray]]:
    """``engine.answer`` that also tallies every run it is asked for into ``work`` (for ``pipeline.drive``)."""

    def tallied(runs: list[Any]) -> list[np.ndarray]:
        for run in runs:
            work.add(run.stage, run.blob)
        return engine.answer(runs)

    return tallied


def page_words(sample: Any, texts_and_polygons: list[tuple[str, Any]]) -> Any:
    """Word counts of one page against its labels (don't-care regions dropped), as ``bench.accuracy`` scores."""
    from edge_runtime.evaluation import metrics
    from edge_runtime.evaluation.datasets import Kind

    if sample.kind is Kind.PAGE:
        return metrics.word_counts([t for t, _ in texts_and_polygons], [sample.text])
    kept = metrics.drop_dont_care(texts_and_polygons, [r.points for r in sample.dont_care])
    return metrics.word_counts([t for t, _ in kept], [r.text for r in sample.cares])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rec_work", description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=None, help="default: as bench.accuracy")
    parser.add_argument("--sets", nargs="+", default=["sroie", "page_tesseract"])
    parser.add_argument("--limit", type=int, default=8, help="first N pages of each set")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; 0: work and word F1 only")
    parser.add_argument("--variant", action="append", default=None, help='"NAME:field=value,..." (EngineConfig)')
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--static-shapes", action="store_true", help="time static against dynamic input shapes")
    parser.add_argument("--widths", nargs="+", type=int, default=[160, 320, 640, 1024])
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args(argv)
    if args.static_shapes:
        print(static_shapes(args.widths, args.batch, args.repeat))
        return 0

    from edge_runtime.config import EngineConfig
    from edge_runtime.evaluation import metrics
    from edge_runtime.evaluation.datasets import load_set
    from edge_runtime.imageio import load_image
    from edge_runtime.pipeline import OcrEngine, drive

    eval_dir = args.eval_dir or default_eval_dir()
    samples = [s for name in args.sets for s in load_set(name, eval_dir, args.limit)]
    pages = [load_image(s.image, 40_000_000, 4) for s in samples]
    variants = [parse_variant(v) for v in (args.variant or ["A:", "B:cls_decided_lines=4"])]
    loads = {k: v for _, overrides in variants for k, v in overrides.items() if k in OcrEngine.SESSION_FIELDS}
    base = OcrEngine(EngineConfig(**loads))  # one set of model sessions: the variants differ in pipeline knobs only
    base.warm_up()
    engines = [base.variant(**{k: v for k, v in o.items() if k not in loads}) for _, o in variants]
    works: list[Work] = []
    load_before = os.getloadavg()
    results: list[list[Any]] = []
    for engine in engines:  # untimed: kernels prepared per input shape; the answers and the work, once
        works.append(Work())
        answer = counted(engine, works[-1])
        results.append([drive(engine.page_steps(page), answer) for page in pages])
    ms: list[list[list[float]]] = [[[] for _ in pages] for _ in engines]
    for _ in range(args.repeat):
        for p, page in enumerate(pages):
            for v, engine in enumerate(engines):
                started = time.perf_counter()
                engine.recognize(page)
                ms[v][p].append((time.perf_counter() - started) * 1000)
    load_after = os.getloadavg()

    rows: list[dict[str, Any]] = []
    for (name, overrides), work, per_page, read in zip(variants, works, ms, results, strict=True):
        words = metrics.WordCounts()
        for sample, result in zip(samples, read, strict=True):
            words += page_words(sample, [(line.text, line.polygon) for line in result.lines])
        medians = [statistics.median(r) if r else float("nan") for r in per_page]  # --repeat 0: no times
        rows.append(
            {
                "name": name,
                "overrides": overrides,
                "ms_per_page": round(statistics.mean(medians), 1),
                "per_page_ms": [round(m, 1) for m in medians],
                "word_f1": round(words.f1, 4),
                "work": work.__dict__,
            }
        )
    first = rows[0]["per_page_ms"]
    out = [
        f"pages: {len(pages)} ({', '.join(args.sets)}, first {args.limit} each), repeat {args.repeat}; "
        f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min)",
        "",
        "| variant | ms/page | × A (geo. mean of pages) | word F1 | rec runs | rec rows | rec columns | "
        "rec padded columns | cls runs | cls rows |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        w = row["work"]
        speed = (
            statistics.geometric_mean(a / m for a, m in zip(first, row["per_page_ms"], strict=True))
            if args.repeat
            else float("nan")
        )
        row["speed_vs_a"] = round(speed, 3)
        out.append(
            f"| {row['name']} | {row['ms_per_page']:.1f} | {speed:.3f} | {100 * row['word_f1']:.2f} | "
            f"{w['runs'].get('rec', 0)} | {w['rows'].get('rec', 0)} | {w['columns'].get('rec', 0)} | "
            f"{w['padded'].get('rec', 0)} | {w['runs'].get('cls', 0)} | {w['rows'].get('cls', 0)} |"
        )
    print("\n".join(out))
    same = [r["name"] for r in rows[1:] if _texts(results[0]) == _texts(results[rows.index(r)])]
    print(f"\nvariants reading exactly A's text on every page: {', '.join(same) or 'none'}", file=sys.stderr)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"load_before": load_before, "load_after": load_after, "rows": rows, "identical_to_a": same}
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


def static_shapes(widths: Sequence[int], batch: int, repeat: int) -> str:
    """Median ms per recognizer run, dynamic-shape model against one reshaped per width, alternating runs."""
    import openvino as ov

    from edge_runtime.artifacts import resolve_stage
    from edge_runtime.config import EngineConfig
    from models import load_bundle

    config = EngineConfig()
    path, used, _ = resolve_stage(load_bundle(config.bundle), "openvino", "rec", "fp32")
    core = ov.Core()
    options = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": config.num_threads}
    dynamic = core.compile_model(core.read_model(str(path)), "CPU", options).create_infer_request()
    lines = [
        f"OpenVINO {ov.__version__}, {used} recognizer, batch {batch}, median of {repeat} alternating runs; "
        f"load average {os.getloadavg()[0]:.2f}",
        "",
        "| width | dynamic ms | static ms | dynamic / static |",
        "|---|---|---|---|",
    ]
    rng = np.random.default_rng(0)
    for width in widths:
        model = core.read_model(str(path))
        model.reshape([batch, 3, 48, width])
        static = core.compile_model(model, "CPU", options).create_infer_request()
        blob = rng.uniform(-1, 1, (batch, 3, 48, width)).astype(np.float32)
        times: dict[str, list[float]] = {"dynamic": [], "static": []}
        for k in range(repeat + 2):
            for name, request in (("dynamic", dynamic), ("static", static)):
                started = time.perf_counter()
                request.infer({0: blob})
                if k >= 2:  # the first runs prepare kernels
                    times[name].append((time.perf_counter() - started) * 1000)
        d, s_ = statistics.median(times["dynamic"]), statistics.median(times["static"])
        lines.append(f"| {width} | {d:.2f} | {s_:.2f} | {d / s_:.3f} |")
    return "\n".join(lines)


def _texts(results: Sequence[Any]) -> list[list[str]]:
    return [[line.text for line in r.lines] for r in results]


if __name__ == "__main__":
    raise SystemExit(main())
