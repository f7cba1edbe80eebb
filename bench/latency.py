"""Per-stage and end-to-end latency of our bundles, backends and precisions beside the peers, on the same pages.

Every configuration reads the same decoded pages (BGR arrays, so image decoding is not timed). Each first
reads every page once untimed: both runtimes prepare kernels per input shape on first use, and a server in
steady state has seen its shapes. Then the timed runs go round-robin, page by page and configuration by
configuration, ``--repeat`` times, so a noisy neighbour on a shared host slows every configuration alike.
The table gives the median over pages of each stage (the median of a page's runs) and pages/s (pages /
summed end-to-end time), and the ratio to each RapidOCR peer in the run.
With ``--accuracy`` each configuration is also scored on the eval sets
(``edge_runtime.evaluation.accuracy.evaluate_set``), ``--json`` writes everything and ``--plot`` draws
pages/s against word F1 (``bench/plot.py``). The default sets are document pages: ``sroie`` and
``page_tesseract`` where the eval dir has them (``../shared/eval``), else the project's rendered
``synth_receipts`` and ``page_synth``.

    python -m bench.latency [--sets sroie page_tesseract] [--limit 8] [--repeat 3]
                            [--bundles ppocrv6-small ppocrv6-tiny] [--backends openvino onnxruntime]
                            [--precisions fp32 auto]
                            [--peers rapidocr rapidocr-openvino faster-paddle-small faster-paddle-tiny|all|none]
                            [--accuracy] [--json out.json] [--plot out.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Config",
    "ours",
    "rapidocr",
    "faster_paddle",
    "peer_configs",
    "document_sets",
    "parse_variant",
    "measure",
    "markdown_table",
    "main",
]

STAGES = ("det", "cls", "rec", "total")
# Document pages: the team's held-out sets where present, else the project's own rendered ones.
DOCUMENT_SETS = (("sroie", "page_tesseract"), ("synth_receipts", "page_synth"))
RATIO_PEERS = ("rapidocr", "rapidocr-openvino")  # the table's "x peer" columns, when they are in the run
# Stage timings (ms) of one call on one decoded page.
TimedFn = Callable[[np.ndarray], dict[str, float]]


@dataclass
class Config:
    """One system under test: a timed call on a decoded page, and a ``recognize_fn`` for accuracy."""

    name: str
    timed: TimedFn
    recognize_fn: Callable[[Path, bool], list] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def ours(
    backend: str,
    precision: str,
    threads: int = 0,
    overrides: dict[str, Any] | None = None,
    variant: str = "",
    bundle: str | None = None,
) -> Config:
    """Our engine; ``overrides`` are further EngineConfig fields, ``variant`` names them in the table."""
    from edge_runtime.config import EngineConfig
    from edge_runtime.evaluation.accuracy import engine_recognizer
    from edge_runtime.pipeline import OcrEngine

    fields = {"bundle": bundle, **(overrides or {})}
    engine = OcrEngine(EngineConfig(backend=backend, precision=precision, threads=threads, **fields))
    engine.warm_up()
    served = {s: engine.precision[s].upper() for s in ("det", "rec")}
    label = (
        " + ".join(f"{s} {p}" for s, p in served.items())
        if len(set(served.values())) > 1
        else next(iter(served.values()))
    )
    label = f"{precision} ({label})" if precision == "auto" else label
    label += f", {variant}" if variant else ""

    def timed(page: np.ndarray) -> dict[str, float]:
        t0 = time.perf_counter()
        result = engine.recognize(page)
        ms = dict(result.timings_ms)
        ms["total"] = (time.perf_counter() - t0) * 1000
        return ms

    return Config(
        f"{engine.bundle.id} {backend} {label}",
        timed,
        engine_recognizer(engine),
        {
            "bundle": engine.bundle.id,
            "backend": backend,
            "precision": dict(engine.precision),
            "threads": engine.config.num_threads,
        },
    )


def rapidocr(openvino: bool = False) -> Config:
    """RapidOCR 3.10 with its defaults (ONNX Runtime FP32, angle classifier on), or on its OpenVINO engine."""
    from bench.peers import rapidocr_engine, rapidocr_recognizer

    engine = rapidocr_engine(openvino)

    def timed(page: np.ndarray) -> dict[str, float]:
        t0 = time.perf_counter()
        result = engine(page)
        total = (time.perf_counter() - t0) * 1000
        parts = list(getattr(result, "elapse_list", []) or []) + [None] * 3
        stages = zip(("det", "cls", "rec"), parts, strict=False)  # parts is padded: a peer may report fewer stages
        ms = {stage: (v * 1000 if isinstance(v, float) else 0.0) for stage, v in stages}
        ms["total"] = total
        return ms

    name = "rapidocr 3.10 OpenVINO (engine_type: openvino)" if openvino else "rapidocr 3.10 FP32 (defaults)"
    return Config(
        name,
        timed,
        rapidocr_recognizer(openvino),
        {
            "backend": "openvino" if openvino else "onnxruntime",
            "peer": True,
            "peer_id": "rapidocr-openvino" if openvino else "rapidocr",
        },
    )


def faster_paddle(size: str) -> Config:
    """faster-paddle 1.0.4 PP-OCRv6 ``size``: it takes encoded bytes, so each page is PNG-encoded once,
    outside the timed call (our configurations get decoded arrays; neither side pays for decoding)."""
    import cv2

    from bench.peers import faster_paddle_engine, faster_paddle_recognizer

    engine = faster_paddle_engine(size)
    encoded: dict[int, tuple[np.ndarray, bytes]] = {}

    def timed(page: np.ndarray) -> dict[str, float]:
        if id(page) not in encoded:
            encoded[id(page)] = (page, cv2.imencode(".png", page)[1].tobytes())  # keep page alive: id stays unique
        data = encoded[id(page)][1]
        t0 = time.perf_counter()
        engine.ocr(data)
        return {"det": 0.0, "cls": 0.0, "rec": 0.0, "total": (time.perf_counter() - t0) * 1000}

    return Config(
        f"faster-paddle 1.0.4 {size}",
        timed,
        faster_paddle_recognizer(size),
        {"backend": "onnxruntime (its own)", "peer": True, "peer_id": f"faster-paddle-{size}"},
    )


PEER_CONFIGS: dict[str, Callable[[], Config]] = {
    "rapidocr": rapidocr,
    "rapidocr-openvino": lambda: rapidocr(openvino=True),
    "faster-paddle-small": lambda: faster_paddle("small"),
    "faster-paddle-tiny": lambda: faster_paddle("tiny"),
}


def peer_configs(names: Sequence[str], log: Callable[[str], None]) -> tuple[list[Config], dict[str, str]]:
    """The asked peers (``all``: every one) that can run here, and name -> reason for those that cannot."""
    from bench.peers import missing_peers

    wanted = list(PEER_CONFIGS) if "all" in names else [n for n in names if n != "none"]
    unknown = [n for n in wanted if n not in PEER_CONFIGS]
    if unknown:
        raise SystemExit(f"--peers: unknown {unknown}; known: {', '.join(PEER_CONFIGS)}, all, none")
    missing = missing_peers(wanted)
    configs = []
    for name in wanted:
        if name in missing:
            log(f"peer {name} missing: {missing[name]}")
            continue
        try:
            configs.append(PEER_CONFIGS[name]())
        except Exception as exc:  # a peer that fails to load is reported, not a crash of the whole run
            missing[name] = f"failed to load: {type(exc).__name__}: {exc}"
            log(f"peer {name} missing: {missing[name]}")
    return configs, missing


def document_sets(eval_dir: Path) -> list[str]:
    """The first of DOCUMENT_SETS whose sets are all in ``eval_dir``."""
    from edge_runtime.evaluation.datasets import list_sets

    present = set(list_sets(eval_dir))
    for sets in DOCUMENT_SETS:
        if present.issuperset(sets):
            return list(sets)
    raise SystemExit(f"{eval_dir} has none of the document-page sets {DOCUMENT_SETS}; name some with --sets")


def _check_sets(eval_dir: Path, sets: Sequence[str]) -> None:
    from edge_runtime.evaluation.datasets import list_sets

    present = list_sets(eval_dir)
    absent = [s for s in sets if s not in present]
    if absent:
        raise SystemExit(f"--sets: {absent} not in {eval_dir}; it has: {', '.join(present) or 'no set'}")


def _pages(eval_dir: Path, sets: Sequence[str], limit: int) -> list[tuple[str, np.ndarray]]:
    from edge_runtime.evaluation.datasets import load_set
    from edge_runtime.imageio import load_image

    return [
        (f"{s}/{sample.image.name}", load_image(sample.image, 40_000_000, 4))
        for s in sets
        for sample in load_set(s, eval_dir, limit)
    ]


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"NAME:field=value,field=value"`` -> (NAME, EngineConfig fields parsed to their types)."""
    from edge_runtime.config import EngineConfig, from_env

    name, _, assignments = text.partition(":")
    environ = {}
    for item in filter(None, assignments.split(",")):
        field, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: expected FIELD=VALUE, got {item!r}")
        environ["OCR_" + field.strip().upper()] = value.strip()
    unknown = set(environ) - {"OCR_" + f.upper() for f in EngineConfig.__dataclass_fields__}
    if unknown or not name.strip():
        raise SystemExit(f"--variant {text!r}: needs a name and EngineConfig fields (unknown: {sorted(unknown)})")
    parsed = from_env(EngineConfig, environ=environ)
    return name.strip(), {k[4:].lower(): getattr(parsed, k[4:].lower()) for k in environ}


def measure(
    configs: Sequence[Config],
    pages: Sequence[tuple[str, np.ndarray]],
    repeat: int,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Warm pass over every page, then ``repeat`` interleaved timed runs; one summary per configuration."""
    for config in configs:
        for _, page in pages:
            config.timed(page)
        if progress:
            progress(f"{config.name}: warmed on {len(pages)} pages")
    runs: list[list[list[dict[str, float]]]] = [[[] for _ in pages] for _ in configs]
    for _ in range(repeat):
        for p, (_, page) in enumerate(pages):
            for c, config in enumerate(configs):
                runs[c][p].append(config.timed(page))
    summaries = []
    for per_config in runs:
        per_page = [
            {s: statistics.median(r.get(s, 0.0) for r in page_runs) for s in STAGES} for page_runs in per_config
        ]
        median = {s: round(statistics.median(p[s] for p in per_page), 2) for s in STAGES}
        total_s = sum(p["total"] for p in per_page) / 1000
        summaries.append(
            {
                "median_ms": median,
                "pages_per_s": round(len(pages) / total_s, 3) if total_s else None,
                "pages": len(pages),
                "repeat": repeat,
            }
        )
    return summaries


def markdown_table(rows: Sequence[dict[str, Any]], peers: Sequence[str] = ()) -> str:
    """One row per configuration; a ``× NAME`` column per name in ``peers``: pages/s over that row's."""
    bases = {p: next((r["pages_per_s"] for r in rows if p in (r["name"], r.get("peer_id"))), None) for p in peers}
    head = [
        "configuration",
        "det ms",
        "cls ms",
        "rec ms",
        "end-to-end ms",
        "pages/s",
        *(f"× {p}" for p in peers),
        "word F1",
    ]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        m = row["median_ms"]
        f1 = row.get("accuracy", {}).get("word_f1")
        ratios = [f"{row['pages_per_s'] / b:.2f}" if b and row["pages_per_s"] else "–" for b in bases.values()]
        out.append(
            "| "
            + " | ".join(
                [
                    row["name"],
                    f"{m['det']:.1f}",
                    f"{m['cls']:.1f}",
                    f"{m['rec']:.1f}",
                    f"{m['total']:.1f}",
                    f"{row['pages_per_s']:.2f}",
                    *ratios,
                    "–" if f1 is None else f"{100 * f1:.2f}",
                ]
            )
            + " |"
        )
    return "\n".join(out)


def _accuracy(config: Config, eval_dir: Path, sets: Sequence[str], limit: int | None) -> dict[str, Any]:
    from edge_runtime.evaluation.accuracy import evaluate_set

    results = [evaluate_set(config.recognize_fn, s, eval_dir, limit) for s in sets]  # type: ignore[arg-type]
    f1s = [r["word_f1"] for r in results if r["word_f1"] is not None]
    return {
        "word_f1": statistics.mean(f1s) if f1s else None,
        "per_set": {r["set"]: r["value"] for r in results},
        "limit": limit,
    }


def main(argv: Sequence[str] | None = None) -> int:
    from bench.accuracy import default_eval_dir

    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=None)
    parser.add_argument(
        "--sets",
        nargs="+",
        default=None,
        help="default: sroie page_tesseract, else the rendered synth_receipts page_synth",
    )
    parser.add_argument("--limit", type=int, default=8, help="first N pages of each set")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bundles", nargs="+", default=[None], help="default: the manifest's default bundle")
    parser.add_argument("--backends", nargs="+", default=["openvino", "onnxruntime"])
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["fp32", "auto"],
        help="fp32 | auto (published INT8 stages) | int8 (every built INT8 stage)",
    )
    parser.add_argument("--threads", type=int, default=0, help="our engines' threads (0: all cores)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:FIELD=VALUE[,FIELD=VALUE]",
        help="one more configuration of the first backend and precision with other EngineConfig "
        "fields, e.g. 'det max 960:det_limit_type=max,det_limit_side_len=960' (repeatable)",
    )
    parser.add_argument(
        "--peers",
        "--peer",
        nargs="+",
        default=["rapidocr"],
        help=f"peers beside ours: {', '.join(PEER_CONFIGS)}, all, or none",
    )
    parser.add_argument("--accuracy", action="store_true", help="also score each configuration on --sets")
    parser.add_argument("--accuracy-limit", type=int, default=None, help="first N images per set for --accuracy")
    parser.add_argument("--json", type=Path, default=None, help="write the rows (input of bench/plot.py)")
    parser.add_argument("--plot", type=Path, default=None, help="draw pages/s against word F1 (needs --accuracy)")
    args = parser.parse_args(argv)

    if args.plot and not args.accuracy:
        parser.error("--plot needs --accuracy (its y axis is word F1)")
    eval_dir = args.eval_dir or default_eval_dir()
    args.sets = args.sets or document_sets(eval_dir)
    _check_sets(eval_dir, args.sets)
    pages = _pages(eval_dir, args.sets, args.limit)
    configs = [
        ours(b, p, args.threads, bundle=bundle)
        for bundle in args.bundles
        for b in args.backends
        for p in args.precisions
    ]
    configs += [
        ours(args.backends[0], args.precisions[0], args.threads, overrides, name, args.bundles[0])
        for name, overrides in map(parse_variant, args.variant)
    ]
    log = lambda text: print(text, file=sys.stderr)  # noqa: E731
    peers, missing = peer_configs(args.peers, log)
    configs += peers
    rows = [
        {"name": c.name, **c.info, **summary}
        for c, summary in zip(configs, measure(configs, pages, args.repeat, progress=log), strict=True)
    ]
    for config, row in zip(configs, rows, strict=True):
        if args.accuracy:
            row["accuracy"] = _accuracy(config, eval_dir, args.sets, args.accuracy_limit)
        log(f"{config.name}: {row['median_ms']['total']:.1f} ms/page")
    print(
        f"{len(pages)} pages ({', '.join(args.sets)}; first {args.limit} each), warm, "
        f"median of {args.repeat} interleaved runs\n"
    )
    print(markdown_table(rows, peers=[p for p in RATIO_PEERS if any(c.info.get("peer_id") == p for c in peers)]))
    for name, reason in missing.items():
        print(f"\nmissing peer {name}: {reason}")
    report = {
        "sets": args.sets,
        "limit": args.limit,
        "repeat": args.repeat,
        "cpu": _cpu(),
        "rows": rows,
        "missing_peers": missing,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    if args.plot:
        from bench.plot import plot

        print(f"\nplot: {plot(report, args.plot)}")
    return 0


def _cpu() -> str:
    """The CPU's model name, logical CPUs and INT8/BF16 flags, recorded beside the figures it produced."""
    import os
    import platform

    from edge_runtime.cpu import cpu_features, feature_summary

    try:
        names = [
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ]
    except OSError:
        names = []
    name = names[0] if names else platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} logical CPUs, {feature_summary(cpu_features())}"


if __name__ == "__main__":
    raise SystemExit(main())
