"""``python -m bench.accuracy``: score our engine on labelled sets beside a peer in the same process.

``python -m bench.accuracy [--sets ...] [--backend ...] [--precision ...] [--bundle ...]
[--peer rapidocr|none] [--peer-only] [--limit N] [--det KEY=VALUE ...] [--json out.json]`` prints a markdown
table; backends, precisions and bundles take several values (every combination is scored). ``--det`` replaces
detector parameters (``edge_runtime.detect.DetParams`` fields) for one-at-a-time sweeps. The scoring itself is
``edge_runtime.evaluation.accuracy``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_runtime.evaluation.accuracy import (
    RecognizeFn,
    engine_recognizer,
    evaluate_set,
    rapidocr_baseline,
    read_baselines,
)
from edge_runtime.evaluation.datasets import OCR_KINDS, kind_of, list_sets

__all__ = ["default_eval_dir", "markdown_table", "main"]


def default_eval_dir() -> Path:
    """``$OCR_EVAL_DIR``, else ``../shared/eval`` beside the repository when it exists (the team's larger
    labelled sets), else the project's own rendered sets (``edge_runtime.evaluation.synth``)."""
    if os.environ.get("OCR_EVAL_DIR"):
        return Path(os.environ["OCR_EVAL_DIR"])
    shared = Path(__file__).resolve().parents[2] / "shared" / "eval"
    if shared.is_dir():
        return shared
    from edge_runtime.evaluation import synth

    return synth.ensure()


def det_changes(pairs: Sequence[str]) -> dict[str, Any]:
    """``["thresh=0.25", "use_dilation=false"]`` -> DetParams changes, each value parsed as its field's type."""
    from edge_runtime.detect import DetParams

    kinds = {f.name: type(getattr(DetParams(), f.name)) for f in dataclasses.fields(DetParams)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in kinds or not text:
            raise SystemExit(f"--det {pair!r}: expected FIELD=VALUE, FIELD one of {', '.join(kinds)}")
        kind = kinds[name]
        if kind is bool:
            changes[name] = text.strip().lower() in ("1", "true", "yes", "on")
        elif kind is tuple:
            changes[name] = tuple(float(v) for v in text.split(","))
        else:
            changes[name] = kind(text)
    return changes


# ---- CLI ------------------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}"


def markdown_table(results: Sequence[tuple[str, dict[str, Any]]], baselines: dict | None = None) -> str:
    """One row per (system, set result)."""
    head = ["set", "system", "headline", "value", "word F1", "CER", "det R / P", "exact / plate", "s/image"]
    if baselines is not None:
        head.insert(4, "BASELINES RapidOCR")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for system, r in results:
        det = "–" if r["det_recall"] is None else f"{_fmt(r['det_recall'])} / {_fmt(r['det_precision'])}"
        crop = r["exact_match"] if r["exact_match"] is not None else r["plate_accuracy"]
        row = [
            r["set"],
            system,
            r["figure"],
            _fmt(r["value"]),
            _fmt(r["word_f1"]),
            _fmt(r["cer"]),
            det,
            _fmt(crop),
            _fmt(r["s_per_image"], 3),
        ]
        if baselines is not None:
            try:
                row.insert(4, _fmt(rapidocr_baseline(baselines, r["set"])))
            except KeyError:
                row.insert(4, "–")
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--eval-dir",
        type=Path,
        default=None,
        help="default: $OCR_EVAL_DIR, ../shared/eval, or the project's rendered sets",
    )
    parser.add_argument("--sets", nargs="+", default=None, help="default: every set in the eval dir")
    parser.add_argument("--backend", nargs="+", default=["openvino"], help="openvino | onnxruntime | auto")
    parser.add_argument("--precision", nargs="+", default=["fp32"], help="fp32 | int8 | auto")
    parser.add_argument("--bundle", nargs="+", default=[None], help="default: the manifest's default bundle")
    parser.add_argument("--peer", default="rapidocr", help="rapidocr | none")
    parser.add_argument("--peer-only", action="store_true", help="score only the peer, not our engine")
    parser.add_argument("--limit", type=int, default=None, help="first N images of each set")
    parser.add_argument("--det", nargs="+", default=[], metavar="KEY=VALUE", help="detector parameter changes")
    parser.add_argument("--json", type=Path, default=None, help="write every result, per-image samples included")
    args = parser.parse_args(argv)
    det_changes(args.det)  # a typo fails before any model loads

    eval_dir = args.eval_dir or default_eval_dir()
    sets = args.sets or [s for s in list_sets(eval_dir) if kind_of(s) in OCR_KINDS]  # the OCR figures
    systems: list[tuple[str, RecognizeFn]] = []
    from edge_runtime.config import EngineConfig
    from edge_runtime.pipeline import OcrEngine

    configs = [] if args.peer_only else itertools.product(args.backend, args.precision, args.bundle)
    for backend, precision, bundle in configs:
        engine = OcrEngine(EngineConfig(backend=backend, precision=precision, bundle=bundle))
        if args.det:
            engine.det_params = dataclasses.replace(engine.det_params, **det_changes(args.det))
        engine.warm_up()
        used = "/".join(sorted(set(engine.precision.values())))
        label = f"ours {engine.bundle.id} {engine.backend} {used}" + "".join(f" {pair}" for pair in args.det)
        systems.append((label, engine_recognizer(engine)))
    if args.peer != "none":
        from bench.peers import peer_recognizer

        systems.append((args.peer, peer_recognizer(args.peer)))

    results: list[tuple[str, dict[str, Any]]] = []
    for set_name in sets:
        for system, recognize_fn in systems:
            result = evaluate_set(recognize_fn, set_name, eval_dir, args.limit, keep_samples=args.json is not None)
            results.append((system, result))
            print(f"{set_name:20s} {system:40s} {result['figure']} {_fmt(result['value'])}", file=sys.stderr)
    try:
        baselines = read_baselines(eval_dir)
    except FileNotFoundError:
        baselines = None
    print(markdown_table(results, baselines))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{"system": s, **r} for s, r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
