"""The gate: per stage, every candidate precision this host can run, timed here and judged end to end against
FP32 on held-out images; serves the fastest within the accuracy budget (the rule: ``quantize.decide``).

Each configuration is served by a real ``OcrEngine`` that resolves its stages through ``edge_runtime.artifacts``
from a staged copy of the bundle (symlinks + a candidate ``quantization.json``), so the gate measures exactly
what ``precision="auto"`` will serve. Accuracy is judged per set on the set's headline figure (word F1 for
receipts, signs and pages, plate accuracy, exact match for crops) with a paired bootstrap over images; speed
with interleaved model runs on input shapes taken from the gate's own images.

Combinations: each stage is judged with the other at FP32, then the two choices together are confirmed end to
end; if together they lose too much, the stage that saves more time per image keeps its choice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime import detect, recognize
from edge_runtime.artifacts import RECORD
from edge_runtime.backends import SessionOptions, load
from edge_runtime.config import EngineConfig
from edge_runtime.cpu import cpu_features, feature_summary
from edge_runtime.evaluation.accuracy import evaluate_set, headline_figure
from edge_runtime.evaluation.datasets import Kind, kind_of
from edge_runtime.pipeline import OcrEngine
from models.bundle import Bundle
from quantize import decide, mixed
from quantize.calibration import batch_by_width, gate_paths, page_crops

__all__ = [
    "GateSettings",
    "Figures",
    "evaluate_engine",
    "staged_bundle",
    "stage_shapes",
    "time_stages",
    "run_gate",
    "STAGES",
    "runtime_precision",
]

STAGES = ("det", "rec")
INT8_VARIANTS = ("int8", mixed.NAME)  # candidates served from an INT8 file; the runtime serves them as "int8"


def runtime_precision(candidate: str) -> str:
    """What the runtime calls a candidate: ``int8-mixed`` is an INT8 file (``edge_runtime.artifacts``)."""
    return "int8" if candidate in INT8_VARIANTS else candidate


@dataclass(frozen=True)
class GateSettings:
    """``max_loss_pt``: largest loss of any set's headline figure (percentage points) a served candidate may
    cost when the loss is significant; ``sets``: (set, first N images); speed: rounds of interleaved runs."""

    max_loss_pt: float = 1.0
    sets: tuple[tuple[str, int], ...] = ()
    speed_repeat: int = 9
    speed_margin: float = decide.SPEED_MARGIN
    judge_all: bool = False  # True: judge the accuracy of every candidate, not only as far as the decision needs
    threads: int = 0  # 0: all cores

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_loss_pt": self.max_loss_pt,
            "significance": decide.SIGNIFICANCE,
            "speed_margin": self.speed_margin,
            "speed_repeat": self.speed_repeat,
            "judge_all": self.judge_all,
            "sets": [list(s) for s in self.sets],
            "images": sum(n for _, n in self.sets),
        }


@dataclass
class Figures:
    """One configuration over the gate images: per set its headline figure, CER and per-image values
    (scores, or (numerator, denominator) pairs for word F1; what the paired bootstrap resamples), and the
    median per-stage latency (ms) of the engine's own timings."""

    per_set: dict[str, dict[str, Any]]
    latency_ms: dict[str, float]
    images: int

    def as_dict(self, per_image: bool = True) -> dict[str, Any]:
        sets = {
            s: (v if per_image else {k: x for k, x in v.items() if k != "per_image"}) for s, v in self.per_set.items()
        }
        return {"per_set": sets, "latency_ms": self.latency_ms, "images": self.images}


def _per_image(kind: Kind, sample: dict[str, Any]) -> float | list[int]:
    if kind is Kind.PLATE:
        return float(sample["plate"])
    if kind is Kind.CROP:
        return float(sample["exact"])
    w = sample["words"]  # word F1 = 2 matched / (predicted + truth), summed over the images drawn
    return [2 * w["matched"], w["predicted"] + w["truth"]]


def evaluate_engine(engine: OcrEngine, sets: Sequence[tuple[str, int]], data_dir: Path) -> Figures:
    """Run the engine end to end on the first N images of each set: per-set figures and stage latencies."""
    import statistics

    timings: list[dict[str, float]] = []

    def recognize_fn(image: Path, skip_detection: bool) -> list:
        result = engine.recognize(str(image), skip_detection=skip_detection)
        if not skip_detection:
            timings.append(result.timings_ms)
        return [(line.text, line.polygon) for line in result.lines]

    engine.warm_up()
    per_set: dict[str, dict[str, Any]] = {}
    for name, limit in sets:
        r = evaluate_set(recognize_fn, name, data_dir, limit, keep_samples=True)
        kind = kind_of(name)
        per_set[name] = {
            "figure": headline_figure(name),
            "value": r["value"],
            "cer": r["cer"],
            "images": r["images"],
            "per_image": [_per_image(kind, s) for s in r["samples"]],
        }
    latency = (
        {k: round(statistics.median(t.get(k, 0.0) for t in timings), 2) for k in ("det", "cls", "rec", "total")}
        if timings
        else {}
    )
    return Figures(per_set, latency, sum(v["images"] for v in per_set.values()))


def staged_bundle(
    bundle: Bundle, backend: str, build_dir: Path, stage_files: Mapping[str, str], serve: Mapping[str, str], root: Path
) -> Bundle:
    """A copy of ``bundle`` under ``root`` (symlinks) whose record makes ``auto`` serve ``serve`` per stage."""
    root.mkdir(parents=True)
    for item in bundle.root.iterdir():
        if item.is_file():
            (root / item.name).symlink_to(item.resolve())
    target = root / "int8" / backend
    target.mkdir(parents=True)
    for item in build_dir.iterdir():
        if item.is_file() and item.name != RECORD:
            (target / item.name).symlink_to(item.resolve())
    stages = {
        s: {
            "serve": serve.get(s, "fp32"),
            "file": stage_files.get(s),
            "int8_ok": serve.get(s) == "int8",
            "reason": "gate configuration",
        }
        for s in STAGES
    }
    (target / RECORD).write_text(json.dumps({"stages": stages}), encoding="utf-8")
    return dataclasses.replace(bundle, root=root)


def stage_shapes(
    engine: OcrEngine, data_dir: Path, sets: Sequence[tuple[str, int]], most: int = 6
) -> dict[str, list[list[int]]]:
    """Realistic model inputs per stage: the detector input of the first image of each set the detector
    reads (distinct shapes), and recognizer batches as the engine makes them from the lines found on those
    images: ``most`` of them spread over the widths (all of them would make timing slow, not more telling)."""
    det: list[list[int]] = []
    blobs = []
    for name, _ in sets:
        if kind_of(name) is Kind.CROP:
            continue
        image = engine.load_image(gate_paths(data_dir, name, 1)[0])
        shape = list(detect.preprocess(image, engine.det_params).shape)
        if shape not in det:
            det.append(shape)
        blobs += [recognize.preprocess(c, engine.rec_params)[0] for c in page_crops(engine, image)]
    batches = [list(b.shape) for b in batch_by_width(blobs, engine.config.rec_batch_size)]
    step = max(1, len(batches) / most)
    rec = [batches[int(i * step)] for i in range(min(most, len(batches)))]
    return {"det": det, "rec": rec}


def time_stages(
    bundle: Bundle,
    backend: str,
    build_dir: Path,
    files: Mapping[str, Mapping[str, str]],
    runnable: Mapping[str, Sequence[str]],
    shapes: Mapping[str, Sequence[Sequence[int]]],
    threads: int,
    repeat: int,
) -> dict[str, dict[str, float]]:
    """ms per stage and candidate on ``shapes`` (``decide.time_sessions``: fastest interleaved run per shape);
    ``files``: per stage, each INT8 candidate's file in ``build_dir``."""
    out: dict[str, dict[str, float]] = {}
    for stage, names in runnable.items():
        sessions = {}
        for name in names:
            path = build_dir / files[stage][name] if name in INT8_VARIANTS else bundle.path(stage)
            sessions[name] = load(backend, path, SessionOptions("cpu", threads, "bf16" if name == "bf16" else "f32"))
        out[stage] = {k: round(v, 2) for k, v in decide.time_sessions(sessions, shapes[stage], repeat).items()}
    return out


@dataclass
class _Judge:
    """Runs and remembers configurations; bootstraps them against FP32."""

    bundle: Bundle
    backend: str
    build_dir: Path
    files: Mapping[str, Mapping[str, str]]  # per stage: INT8 candidate -> its file in build_dir
    settings: GateSettings
    data_dir: Path
    tmp: Path
    log: Callable[[str], None]
    tick: Callable[[], None] | None
    figures: dict[str, Figures] = field(default_factory=dict)
    engines: dict[str, OcrEngine] = field(default_factory=dict)

    @staticmethod
    def name(serve: Mapping[str, str]) -> str:
        return "+".join(f"{s}_{serve.get(s, 'fp32')}" for s in STAGES)

    def evaluate(self, serve: Mapping[str, str], keep: bool = False) -> Figures:
        """Figures of one configuration (run once); ``keep``: remember its engine (else freed: sessions of
        several configurations together would hold gigabytes)."""
        name = self.name(serve)
        if name in self.figures:
            return self.figures[name]
        chosen = {s: serve.get(s, "fp32") for s in STAGES}
        want = {s: runtime_precision(c) for s, c in chosen.items()}
        stage_files = {s: self.files[s][c] for s, c in chosen.items() if c in INT8_VARIANTS}
        staged = staged_bundle(self.bundle, self.backend, self.build_dir, stage_files, want, self.tmp / name)
        engine = OcrEngine(
            EngineConfig(backend=self.backend, precision="auto", threads=self.settings.threads), bundle=staged
        )
        got = {s: engine.precision[s] for s in STAGES}
        if got != want:
            raise RuntimeError(f"gate configuration {name}: the engine serves {got}, expected {want}")
        base = self.figures.get(self.name({}))
        # crops are read without the detector: with FP32 recognition they read exactly as in FP32
        same = {n for n, _ in self.settings.sets if base and want["rec"] == "fp32" and kind_of(n) is Kind.CROP}
        f = evaluate_engine(engine, [s for s in self.settings.sets if s[0] not in same], self.data_dir)
        if same and base:
            f.per_set = {n: (base.per_set[n] if n in same else f.per_set[n]) for n, _ in self.settings.sets}
            f.images = sum(v["images"] for v in f.per_set.values())
        self.figures[name] = f
        if keep:
            self.engines[name] = engine
        if self.tick:
            self.tick()
        self.log(
            f"gate {self.backend} {name}: "
            + "  ".join(f"{s} {100 * v['value']:.2f}" for s, v in f.per_set.items())
            + f"  ({f.images} images)"
        )
        return f

    def losses(self, serve: Mapping[str, str]) -> dict[str, decide.Bootstrap]:
        base, other = self.evaluate({}), self.evaluate(serve)
        return {
            s: decide.paired_bootstrap(base.per_set[s]["per_image"], other.per_set[s]["per_image"])
            for s in base.per_set
        }


def run_gate(
    bundle: Bundle,
    backend: str,
    build_dir: Path,
    stage_files: Mapping[str, str],
    settings: GateSettings,
    data_dir: Path,
    log: Callable[[str], None] = print,
    tick: Callable[[], None] | None = None,
    mixed_files: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Decide each stage's precision on this host (``mixed_files``: per stage, the ``int8-mixed`` candidate's
    file in ``build_dir``, where built). A stage's record says ``serve`` as the runtime names it (``int8`` for
    either INT8 file), ``candidate`` (which one) and ``file`` (the INT8 file ``auto``/``int8`` serve).

    Returns ``{"served": {stage: candidate}, "summary": str, "stages": {stage: {"serve", "candidate", "file",
    "reason", "int8_ok", "candidates", "speed_ms", "accuracy"}}, "combination": {...}, "configs": {name:
    figures}, "speed_inputs": {stage: shapes}, "cpu_features": {...}}``."""
    features = cpu_features()
    mixed_files = mixed_files or {}
    files = {
        s: {k: v for k, v in (("int8", stage_files.get(s)), (mixed.NAME, mixed_files.get(s))) if v} for s in STAGES
    }
    skipped = {s: decide.candidates(backend, features, s in stage_files, mixed_built=s in mixed_files) for s in STAGES}
    with tempfile.TemporaryDirectory(prefix="edge-ocr-gate-") as tmp:
        judge = _Judge(bundle, backend, build_dir, files, settings, data_dir, Path(tmp), log, tick)
        base = judge.evaluate({}, keep=True)
        shapes = stage_shapes(judge.engines.pop(judge.name({})), data_dir, settings.sets)
        runnable = {s: [n for n, why in skipped[s].items() if why is None] for s in STAGES}
        load_avg = [round(os.getloadavg()[0], 2)]  # 1-minute load average before and after timing
        speed = time_stages(
            bundle,
            backend,
            build_dir,
            files,
            runnable,
            shapes,
            settings.threads or os.cpu_count() or 1,
            settings.speed_repeat,
        )
        load_avg.append(round(os.getloadavg()[0], 2))
        log(
            f"gate {backend} speed (ms, fastest of {settings.speed_repeat} interleaved rounds per shape, summed; "
            f"load average {load_avg[0]:.1f}-{load_avg[1]:.1f} on {os.cpu_count()} CPUs): "
            + "; ".join(f"{s} " + ", ".join(f"{n} {ms:.1f}" for n, ms in speed[s].items()) for s in STAGES)
        )

        stages: dict[str, dict[str, Any]] = {}
        accuracy: dict[str, dict[str, dict[str, decide.Bootstrap]]] = {s: {} for s in STAGES}
        for stage in STAGES:
            faster = {n for group in decide.speed_groups(speed[stage], settings.speed_margin) for n in group}
            if settings.judge_all:  # every runnable candidate, slower ones too: all figures in the record
                for name in runnable[stage]:  # but int8-mixed only where it could serve (CI set-up time)
                    if name != "fp32" and (name != mixed.NAME or name in faster):
                        accuracy[stage][name] = judge.losses({stage: name})
            for group in decide.speed_groups(speed[stage], settings.speed_margin):
                for name in group:
                    if name not in accuracy[stage]:
                        accuracy[stage][name] = judge.losses({stage: name})
                if any(
                    not any(decide.refused(b, settings.max_loss_pt) for b in accuracy[stage][n].values()) for n in group
                ):
                    break  # the fastest group with a candidate within budget: slower ones cannot be served
            served, verdicts = decide.choose(
                speed[stage], accuracy[stage], skipped[stage], settings.max_loss_pt, settings.speed_margin
            )
            int8_ok = [  # INT8 files within budget, the faster one first: what precision="int8" serves
                n
                for n in sorted(files[stage], key=lambda n: speed[stage].get(n, float("inf")))
                if n in accuracy[stage]
                and not any(decide.refused(b, settings.max_loss_pt) for b in accuracy[stage][n].values())
            ]
            stages[stage] = {
                "serve": served,
                "file": stage_files.get(stage),
                "int8_ok": bool(int8_ok),
                "int8_within_budget": int8_ok,
                "candidates": verdicts,
                "speed_ms": speed[stage],
                "accuracy": {n: {s: b.as_dict() for s, b in per.items()} for n, per in accuracy[stage].items()},
            }

        chosen = {s: stages[s]["serve"] for s in STAGES}
        combination: dict[str, Any] = {"tried": dict(chosen)}
        if all(chosen[s] != "fp32" for s in STAGES):
            together = judge.losses(chosen)
            combination["accuracy"] = {s: b.as_dict() for s, b in together.items()}
            bad = [s for s, b in together.items() if decide.refused(b, settings.max_loss_pt)]
            if bad:
                # each is within budget alone, not together: keep the stage that saves more ms per image
                saved = {s: base.latency_ms.get(s, 0.0) * (1 - speed[s][chosen[s]] / speed[s]["fp32"]) for s in STAGES}
                keep = max(STAGES, key=lambda s: (saved[s], s))
                for s in STAGES:
                    if s != keep:
                        stages[s]["candidates"][chosen[s]] = (
                            f"refused together with {keep} {chosen[keep]}: {', '.join(bad)} loses more than "
                            f"{settings.max_loss_pt} pt; within budget alone"
                        )
                        stages[s]["serve"] = "fp32"
                        stages[s]["candidates"]["fp32"] = "served: " + stages[s]["candidates"]["fp32"]
                combination["verdict"] = (
                    f"refused ({', '.join(bad)}); {keep} keeps {chosen[keep]} "
                    f"(saves {saved[keep]:.1f} ms per image), the other stage FP32"
                )
            else:
                combination["verdict"] = "within budget together"
        else:
            combination["verdict"] = "not needed: at most one stage is not FP32 (judged alone)"
        serving = {s: stages[s]["serve"] for s in STAGES}
        final = judge.losses(serving) if any(p != "fp32" for p in serving.values()) else {}
        combination["served"] = serving
        for stage in STAGES:
            entry = stages[stage]
            entry["reason"] = _reason(entry, final, features)
            entry["candidate"], entry["serve"] = entry["serve"], runtime_precision(entry["serve"])
            within = entry.pop("int8_within_budget")
            int8_file = entry["candidate"] if entry["candidate"] in INT8_VARIANTS else next(iter(within), "int8")
            entry["file"] = files[stage].get(int8_file, stage_files.get(stage))
    summary = ", ".join(f"{s} {serving[s].upper()}" for s in STAGES)
    return {
        "served": serving,
        "summary": summary,
        "stages": stages,
        "combination": combination,
        "final_accuracy": {s: b.as_dict() for s, b in final.items()},
        "configs": {k: v.as_dict() for k, v in judge.figures.items()},
        "speed_inputs": shapes,
        "speed_load_average": load_avg,
        "cpu_features": features,
        "cpu": feature_summary(features),
        "settings": settings.as_dict(),
    }


def _reason(entry: Mapping[str, Any], final: Mapping[str, decide.Bootstrap], features: Mapping[str, bool]) -> str:
    """Why the served precision serves, in one line (the server logs it, GetServerInfo reports it)."""
    served, ms = entry["serve"], entry["speed_ms"]
    where = f"on this host ({feature_summary(dict(features))})"
    if served == mixed.NAME:
        where = f"({mixed.NAME}: INT8 built the model's own way, quantize/float_kept.json) {where}"
    if served == "fp32":
        others = "; ".join(f"{n} {v}" for n, v in entry["candidates"].items() if n != "fp32")
        return f"no candidate faster and within the accuracy budget {where}: {others}"
    worst = max(final.items(), key=lambda kv: kv[1].mean_loss_pt)
    return (
        f"fastest within the accuracy budget {where}: {ms[served]:.1f} ms vs FP32 {ms['fp32']:.1f} ms "
        f"({ms['fp32'] / ms[served]:.2f}x); served combination's worst set {worst[0]} "
        f"{-worst[1].mean_loss_pt:+.2f} pt (bootstrap SD {worst[1].sd_pt:.2f})"
    )
