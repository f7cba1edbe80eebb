"""The accuracy gate: FP32 vs INT8 end-to-end on held-out images; publishes only the stages that keep accuracy.

Each candidate configuration is served by a real ``OcrEngine`` that resolves its stages through
``edge_runtime.artifacts`` from a staged copy of the bundle (symlinks + a candidate ``quantization.json``),
so the gate measures exactly what ``precision="auto"`` will serve. Word F1 is the mean of the per-set word F1
(pooling all words would let text-dense receipts hide a loss on scene text: measured, OpenVINO INT8 det
cost 6 points on icdar15_test while pooled F1 moved 0.04); CER is pooled (edits / characters over all images).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from edge_runtime.evaluation.accuracy import evaluate_set
from edge_runtime.artifacts import RECORD
from edge_runtime.config import EngineConfig
from edge_runtime.pipeline import OcrEngine
from models.bundle import Bundle

__all__ = ["GateSettings", "Figures", "evaluate_engine", "staged_bundle", "run_gate"]

@dataclass(frozen=True)
class GateSettings:
    """Thresholds in percentage points of the pooled figures; ``sets``: (eval set, first N images)."""

    max_word_f1_drop: float = 1.0
    max_cer_rise: float = 0.5
    sets: tuple[tuple[str, int], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"max_word_f1_drop_pt": self.max_word_f1_drop, "max_cer_rise_pt": self.max_cer_rise,
                "sets": [list(s) for s in self.sets]}


@dataclass
class Figures:
    """Figures of one configuration over the gate images, plus median per-stage latency (ms).

    ``word_f1_macro``: mean of the per-set word F1 over the sets that have one; the gate judges on it (and on
    pooled CER), so scene text weighs as much as text-dense receipts. ``word_f1``: pooled over all words.
    """

    word_f1_macro: float
    word_f1: float
    cer: float
    det_recall: float
    det_precision: float
    plate_accuracy: float | None
    per_set: dict[str, dict[str, float | None]]  # set -> headline and figures of that set alone
    latency_ms: dict[str, float]
    images: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _pool(results: Iterable[dict[str, Any]]) -> dict[str, float]:
    matched = predicted = truth = edits = chars = found = boxes = precise = guesses = 0
    for result in results:
        for sample in result["samples"]:
            words, cer, cover = sample.get("words"), sample.get("edits"), sample.get("cover")
            if words:
                matched, predicted, truth = matched + words["matched"], predicted + words["predicted"], truth + words["truth"]
            if cer:
                edits, chars = edits + cer["edits"], chars + cer["truth_chars"]
            if cover:
                found, boxes = found + cover["found"], boxes + cover["truth"]
                precise, guesses = precise + cover["precise"], guesses + cover["predicted"]
    p, r = _ratio(matched, predicted), _ratio(matched, truth)
    return {"word_f1": _ratio(2 * p * r, p + r), "cer": _ratio(edits, chars),
            "det_recall": _ratio(found, boxes), "det_precision": _ratio(precise, guesses)}


def evaluate_engine(engine: OcrEngine, sets: Iterable[tuple[str, int]], data_dir: Path) -> Figures:
    """Run the engine end to end on the first N images of each set; pooled figures and stage latencies."""
    timings: list[dict[str, float]] = []

    def recognize(image: Path, skip_detection: bool) -> list:
        result = engine.recognize(str(image), skip_detection=skip_detection)
        timings.append(result.timings_ms)
        return [(line.text, line.polygon) for line in result.lines]

    engine.warm_up()
    results = [evaluate_set(recognize, name, data_dir, limit, keep_samples=True) for name, limit in sets]
    pooled = _pool(results)
    plates = [r["plate_accuracy"] for r in results if r["plate_accuracy"] is not None]
    per_set_f1 = [r["word_f1"] for r in results if r["word_f1"] is not None]
    latency = {k: round(statistics.median(t.get(k, 0.0) for t in timings), 2)
               for k in ("det", "cls", "rec", "total")} if timings else {}
    return Figures(word_f1_macro=statistics.mean(per_set_f1) if per_set_f1 else 0.0,
                   plate_accuracy=statistics.mean(plates) if plates else None,
                   per_set={r["set"]: {k: r[k] for k in ("figure", "value", "word_f1", "cer", "det_recall")}
                            for r in results},
                   latency_ms=latency, images=len(timings),
                   **pooled)


def staged_bundle(bundle: Bundle, backend: str, build_dir: Path, stage_files: dict[str, str],
                  published: Iterable[str], root: Path) -> Bundle:
    """A copy of ``bundle`` under ``root`` (symlinks) whose INT8 record publishes exactly ``published``."""
    root.mkdir(parents=True)
    for item in bundle.root.iterdir():
        if item.is_file():
            (root / item.name).symlink_to(item.resolve())
    target = root / "int8" / backend
    target.mkdir(parents=True)
    for item in build_dir.iterdir():
        if item.is_file() and item.name != RECORD:
            (target / item.name).symlink_to(item.resolve())
    published = set(published)
    record = {"stages": {s: {"file": f, "published": s in published} for s, f in stage_files.items()}}
    (target / RECORD).write_text(json.dumps(record), encoding="utf-8")
    return dataclasses.replace(bundle, root=root)


def _delta(base: Figures, other: Figures) -> dict[str, float]:
    """Costs in percentage points: positive = INT8 is worse."""
    return {"word_f1_drop_pt": round(100 * (base.word_f1_macro - other.word_f1_macro), 3),
            "pooled_word_f1_drop_pt": round(100 * (base.word_f1 - other.word_f1), 3),
            "cer_rise_pt": round(100 * (other.cer - base.cer), 3),
            "det_recall_drop_pt": round(100 * (base.det_recall - other.det_recall), 3)}


def _passes(delta: dict[str, float], settings: GateSettings) -> bool:
    return delta["word_f1_drop_pt"] <= settings.max_word_f1_drop and delta["cer_rise_pt"] <= settings.max_cer_rise


def run_gate(bundle: Bundle, backend: str, build_dir: Path, stage_files: dict[str, str], settings: GateSettings,
             data_dir: Path, threads: int = 0, log: Callable[[str], None] = print,
             tick: Callable[[], None] | None = None) -> dict[str, Any]:
    """Evaluate FP32 and all built INT8 stages together; when that fails, each stage alone, to find the culprit.

    Publishes every stage when together they stay within the thresholds; otherwise the stages that pass
    alone (if both pass alone but not together, the cheaper one). Returns ``{"published": [...],
    "served": {...}, "summary": str, "stages": {stage: {...}}, "configs": {name: figures}}``.
    """
    figures: dict[str, Figures] = {}
    built = [s for s in ("det", "rec") if s in stage_files]
    with tempfile.TemporaryDirectory(prefix="edge-ocr-gate-") as tmp:

        def evaluate(int8: Sequence[str]) -> Figures:
            name = "int8_" + "_".join(int8) if int8 else "fp32"
            staged = staged_bundle(bundle, backend, build_dir, stage_files, int8, Path(tmp) / name)
            engine = OcrEngine(EngineConfig(backend=backend, precision="auto", threads=threads), bundle=staged)
            wanted = {s: ("int8" if s in int8 else "fp32") for s in ("det", "rec")}
            served = {s: engine.precision[s] for s in ("det", "rec")}
            if served != wanted:
                raise RuntimeError(f"gate config {name}: engine serves {served}, expected {wanted}")
            f = figures[name] = evaluate_engine(engine, settings.sets, data_dir)
            if tick:
                tick()
            log(f"gate {backend} {name}: word F1 {100 * f.word_f1_macro:.2f} (mean of sets; pooled "
                f"{100 * f.word_f1:.2f})  CER {100 * f.cer:.2f}  "
                f"det recall {100 * f.det_recall:.2f}  ({f.images} images)")
            return f

        base = evaluate(())
        together = _delta(base, evaluate(built)) if built else None
        stages: dict[str, dict[str, Any]] = {s: {"together": together} for s in built}
        if together is not None and _passes(together, settings):
            published = built
            for stage in built:
                stages[stage]["alone"] = together if len(built) == 1 else None  # not needed: all passed together
        else:
            published = []
            for stage in built:
                alone = together if len(built) == 1 else _delta(base, evaluate((stage,)))
                stages[stage]["alone"] = alone
                if _passes(alone, settings):
                    published.append(stage)
            if len(published) > 1:  # each is fine alone, not both: keep the cheaper one
                cost = {s: stages[s]["alone"]["word_f1_drop_pt"] + stages[s]["alone"]["cer_rise_pt"] for s in published}
                published = [min(published, key=lambda s: (cost[s], s))]
    int8_all = figures.get("int8_" + "_".join(built))
    for stage, info in stages.items():
        info["published"] = stage in published
        info["latency_ms"] = {"fp32": base.latency_ms.get(stage),
                              "int8": (figures.get(f"int8_{stage}") or int8_all).latency_ms.get(stage)}
        alone = info.get("alone")
        if stage in published:
            info["verdict"] = "published"
        elif alone is not None and not _passes(alone, settings):
            info["verdict"] = (f"refused: word F1 -{alone['word_f1_drop_pt']:.2f} pt (max {settings.max_word_f1_drop}), "
                               f"CER +{alone['cer_rise_pt']:.2f} pt (max {settings.max_cer_rise}); FP32 served")
        else:
            info["verdict"] = "refused: passes alone but not together with the other INT8 stage; FP32 served"
    served = {s: ("int8" if s in published else "fp32") for s in ("det", "rec")}
    summary = "INT8 " + ("+".join(published) if published else "none") + "; FP32 " + (
        "+".join(s for s in ("det", "rec") if s not in published) or "none")
    return {"published": published, "served": served, "summary": summary, "stages": stages,
            "configs": {k: v.as_dict() for k, v in figures.items()}}
