"""Build, gate and publish the INT8 artifacts of one bundle on one or both backends (or reuse them)."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_runtime.artifacts import int8_dir
from edge_runtime.config import EngineConfig
from edge_runtime.cpu import cpu_features
from models import Bundle, load_bundle
from quantize import calibration, mixed, record
from quantize.calibration import ImageSet
from quantize.gate import GateSettings, run_gate

__all__ = ["Settings", "BackendResult", "build", "pending", "BACKENDS", "STAGE_FILES"]

BACKENDS = ("openvino", "onnxruntime")
STAGE_FILES = {"openvino": {"det": "det.xml", "rec": "rec.xml"}, "onnxruntime": {"det": "det.onnx", "rec": "rec.onnx"}}


@dataclass(frozen=True)
class Settings:
    """Everything that changes the artifacts or the gate's verdict (recorded, and part of the inputs key)."""

    det_pages: int = 12  # detector calibration: the first N calibration pages
    rec_crops: int = 192  # recognizer calibration: line crops found on all calibration pages
    rec_batch: int = 8
    max_loss_pt: float = 1.0  # gate: largest significant loss of any set's headline figure, percentage points
    speed_repeat: int = 9  # gate: interleaved timing rounds per stage
    judge_all: bool = True  # gate: judge every candidate's accuracy (False: only as far as the decision needs)
    gate_sets: tuple[tuple[str, int], ...] = calibration.GATE_SETS
    gate: bool = True  # False: build only; the runtime serves FP32

    def gate_settings(self) -> GateSettings:
        return GateSettings(self.max_loss_pt, self.gate_sets, self.speed_repeat, judge_all=self.judge_all)


@dataclass
class BackendResult:
    backend: str
    reused: bool
    reason: str
    record: dict[str, Any]
    directory: Path


def _engine_params() -> dict[str, Any]:
    """The engine settings that shape calibration inputs and gate results (defaults, not the environment)."""
    config = dataclasses.asdict(EngineConfig())
    for volatile in ("bundle", "backend", "device", "precision", "threads", "rec_streams"):
        config.pop(volatile)
    return config


def _gate_hash(data_dir: Path, sets: Sequence[tuple[str, int]]) -> str:
    return calibration.images_hash([p for name, limit in sets for p in calibration.gate_paths(data_dir, name, limit)])


def _inputs(
    bundle: Bundle, backend: str, images: ImageSet, images_sha: str, gate_sha: str, settings: Settings
) -> dict[str, Any]:
    return {
        "bundle": bundle.id,
        "bundle_sha256": record.bundle_hashes(bundle),
        "backend": backend,
        "cpu_features": cpu_features(),  # another kind of CPU runs other INT8 kernels: it is gated anew
        "calibration_images_sha256": images_sha,
        "gate_images_sha256": gate_sha,
        "tools": record.tool_versions(),
        "code_sha256": record.code_hash(),
        "settings": dataclasses.asdict(settings),
        "engine": _engine_params(),
    }


def _quantize(
    backend: str, bundle: Bundle, stage: str, samples: Sequence, out: Path, candidate: bool = False
) -> list[Path]:
    """The ``int8`` artifact of a stage, or with ``candidate`` the ``int8-mixed`` one (``quantize.mixed``: its
    float-kept nodes and recipe)."""
    float_kept = mixed.float_kept(bundle.id, stage, backend) if candidate else None
    if backend == "openvino":
        from quantize import openvino_ptq

        how = (mixed.recipe(bundle.id, stage, backend) if candidate else None) or {}
        return openvino_ptq.quantize_stage(bundle.path(stage), samples, out, stage, ignored=float_kept or (), **how)
    from quantize import onnx_qdq

    op_types = mixed.op_types(bundle.id, stage) if candidate else None
    return onnx_qdq.quantize_stage(
        bundle.path(stage), samples, out, stage, bundle.params.rec_height, exclude=float_kept or (), op_types=op_types
    )


def _swap_in(building: Path, final: Path) -> None:
    """Replace ``final`` by ``building`` with two renames (readers see the old build or the new one)."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    building.rename(final)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(lock_path: Path, log: Callable[[str], None]) -> Iterator[None]:
    """One build per bundle at a time across processes (set-up may run in several shells at once)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another quantize run holds {lock_path}; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(
    bundle_id: str | None = None,
    backends: Sequence[str] = BACKENDS,
    images: ImageSet | None = None,
    data_dir: Path | None = None,
    settings: Settings = Settings(),
    force: bool = False,
    out_root: Path | None = None,
    log: Callable[[str], None] = print,
    progress: Any = None,
    threads: int = 0,
) -> list[BackendResult]:
    """Build (or reuse) INT8 artifacts of ``bundle_id`` for each backend and gate them.

    ``out_root``: write ``<out_root>/<backend>/`` instead of the bundle's ``int8/`` (tests, determinism
    checks); ``progress``: a tqdm-like object with ``update()``, ``set_description()`` and a settable ``total``
    (or a ``plan()``: ``quantize.progress.Progress``); ``threads``: intra-op threads of every model run, the
    gate's timing included (0: all cores; 1 for a build beside a serving server: serving under load runs
    one-thread streams too, so the gate times what serves). Not part of the inputs key.
    """
    bundle = load_bundle(bundle_id)
    root = out_root or int8_dir(bundle, "x").parent
    with _exclusive(root / ".quantize.lock", log):
        return _build(bundle, backends, images, data_dir, settings, force, out_root, log, progress, threads)


def pending(bundle_id: str | None, backend: str, data_dir: Path | None = None) -> tuple[bool, str]:
    """(True, why) when ``python -m quantize --backend BACKEND`` with the default settings would build, (False,
    why) when its last build for this host's inputs is there and verifies (what a server checks before it
    starts a build in the background)."""
    bundle = load_bundle(bundle_id)
    data_dir = data_dir or calibration.default_data_dir()
    images = calibration.default_calibration(data_dir)
    settings = Settings()
    gate_sha = _gate_hash(data_dir, settings.gate_sets)
    inputs = _inputs(bundle, backend, images, calibration.images_hash(images.paths), gate_sha, settings)
    ok, why = record.reusable(int8_dir(bundle, backend), record.inputs_key(inputs))
    return not ok, why


def _build(
    bundle: Bundle,
    backends: Sequence[str],
    images: ImageSet | None,
    data_dir: Path | None,
    settings: Settings,
    force: bool,
    out_root: Path | None,
    log: Callable[[str], None],
    progress: Any,
    threads: int = 0,
) -> list[BackendResult]:
    started, cpu_started = time.perf_counter(), time.process_time()
    data_dir = data_dir or calibration.default_data_dir()
    images = images or calibration.default_calibration(data_dir)
    images_sha = calibration.images_hash(images.paths)
    gate_sha = _gate_hash(data_dir, settings.gate_sets) if settings.gate else "no-gate"
    calib_names = {p.resolve() for p in images.paths}
    overlap = (
        [
            p
            for name, limit in settings.gate_sets
            for p in calibration.gate_paths(data_dir, name, limit)
            if p.resolve() in calib_names
        ]
        if settings.gate
        else []
    )
    if overlap:
        raise ValueError(
            f"{len(overlap)} calibration images are also gate images (e.g. {overlap[0]}); "
            "the gate must judge on images not used for calibration"
        )

    results: list[BackendResult] = []
    todo: list[tuple[str, dict[str, Any], str]] = []
    for backend in backends:
        directory = (out_root / backend) if out_root else int8_dir(bundle, backend)
        inputs = _inputs(bundle, backend, images, images_sha, gate_sha, settings)
        key = record.inputs_key(inputs)
        ok, why = record.reusable(directory, key)
        if ok and not force:
            log(f"{bundle.id} {backend}: reusing INT8 build ({why})")
            results.append(
                BackendResult(backend, True, why, json.loads((directory / record.RECORD).read_text()), directory)
            )
        else:
            todo.append((backend, inputs, key))
            log(f"{bundle.id} {backend}: building INT8 ({'forced' if force else why})")
    if not todo:
        return results

    if progress is not None and hasattr(progress, "plan"):  # phases weighted by the work they take
        progress.plan(len(images.paths), [backend for backend, _, _ in todo], settings.gate)
    elif progress is not None:
        # steps: one per calibration page, two quantized stages and the gate's configurations per backend
        # (FP32, one or two per stage, the combination: 4 as a guess, the bar grows when the gate needs more)
        progress.total = len(images.paths) + len(todo) * (2 + (4 if settings.gate else 0))
        progress.refresh()

    def step(text: str | None = None) -> None:
        if progress is not None:
            if text:
                progress.set_description(text)
            if progress.n + 1 > progress.total:
                progress.total = progress.n + 1
            progress.update(1)

    from edge_runtime.pipeline import OcrEngine

    t0, c0 = time.perf_counter(), time.process_time()
    if progress is not None:
        progress.set_description("calibration")
    # ONNX Runtime FP32 finds the calibration crops on every host and for both backends: same inputs, same crops
    fp32 = OcrEngine(
        EngineConfig(bundle=bundle.id, backend="onnxruntime", precision="fp32", threads=threads), bundle=bundle
    )
    samples = calibration.collect(
        fp32, images, settings.det_pages, settings.rec_crops, settings.rec_batch, progress=lambda: step()
    )
    calib_s, calib_cpu = time.perf_counter() - t0, time.process_time() - c0
    log(
        f"calibration: {samples.pages} pages ({len(samples.det)} for the detector), "
        f"{samples.crops_used} of {samples.crops_found} line crops in {len(samples.rec)} batches, {calib_s:.1f} s"
    )

    for backend, inputs, key in todo:
        final = (out_root / backend) if out_root else int8_dir(bundle, backend)
        building = final.with_name(f".{final.name}.building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        files: list[str] = []
        seconds: dict[str, float] = {"calibration": round(calib_s, 1), "calibration_cpu": round(calib_cpu, 1)}
        mixed_files: dict[str, str] = {}
        for stage in ("det", "rec"):
            if progress is not None:
                progress.set_description(f"{backend} {stage}")
            t0, c0 = time.perf_counter(), time.process_time()
            written = _quantize(
                backend,
                bundle,
                stage,
                samples.det if stage == "det" else samples.rec,
                building / STAGE_FILES[backend][stage],
            )
            files += [p.name for p in written]
            seconds[f"quantize_{stage}"] = round(time.perf_counter() - t0, 1)
            seconds[f"quantize_{stage}_cpu"] = round(time.process_time() - c0, 1)
            if mixed.built(bundle.id, stage, backend):  # same calibration samples, the model's own way
                t0, c0 = time.perf_counter(), time.process_time()
                name = mixed.mixed_file(STAGE_FILES[backend][stage])
                samples_ = samples.det if stage == "det" else samples.rec
                files += [p.name for p in _quantize(backend, bundle, stage, samples_, building / name, True)]
                mixed_files[stage] = name
                seconds[f"quantize_{stage}_mixed"] = round(time.perf_counter() - t0, 1)
                seconds[f"quantize_{stage}_mixed_cpu"] = round(time.process_time() - c0, 1)
            step()
        stage_files = STAGE_FILES[backend]
        verdict: dict[str, Any]
        if settings.gate:
            if progress is not None:
                progress.set_description(f"{backend} gate")
            t0, c0 = time.perf_counter(), time.process_time()
            gate_settings = dataclasses.replace(settings.gate_settings(), threads=threads)
            verdict = run_gate(
                bundle,
                backend,
                building,
                stage_files,
                gate_settings,
                data_dir,
                log=log,
                tick=lambda: step(),
                mixed_files=mixed_files,
            )
            seconds["gate"] = round(time.perf_counter() - t0, 1)
            seconds["gate_cpu"] = round(time.process_time() - c0, 1)
        else:
            verdict = {"summary": "not gated: FP32 serves", "stages": {}, "configs": {}}
        stages = {}
        for stage, name in stage_files.items():
            own = sorted(f for f in files if f.split(".")[0] == stage)
            info = verdict["stages"].get(stage, {"serve": "fp32", "int8_ok": False, "reason": "not gated"})
            stages[stage] = {"file": name, "files": own, **info}
            if stage in mixed_files:
                stages[stage]["float_kept"] = list(mixed.float_kept(bundle.id, stage, backend) or ())
                stages[stage]["mixed_recipe"] = mixed.recipe(bundle.id, stage, backend) or {}
        gate: dict[str, Any] = {
            "summary": verdict["summary"],
            **settings.gate_settings().as_dict(),
            "images_sha256": gate_sha,
            "timing_threads": threads or os.cpu_count() or 1,
            "cpu": verdict.get("cpu"),
            **{k: verdict[k] for k in ("combination", "final_accuracy", "speed_inputs") if k in verdict},
            "configs": verdict["configs"],
        }
        rec = {
            "schema": record.SCHEMA,
            "bundle": bundle.id,
            "backend": backend,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs_key": key,
            "inputs": inputs,
            "calibration": {
                "source": images.name,
                "images": len(images.paths),
                "images_sha256": images_sha,
                "det_pages": len(samples.det),
                "rec_crops": samples.crops_used,
                "rec_batches": len(samples.rec),
                "crops_found": samples.crops_found,
                "crops_from": "onnxruntime fp32 engine: detect -> crop -> classify -> orient_page",
            },
            "method": (
                "NNCF PTQ (preset mixed, target CPU, fast bias correction; rec model_type "
                "TRANSFORMER, classifier head FP32), IR with FP32 weights"
                if backend == "openvino"
                else "ONNX Runtime quantize_static QDQ, per-channel QInt8 symmetric weights, QUInt8 asymmetric "
                "activations, MinMax; det: Conv/ConvTranspose, rec: MatMul/Gemm only; outputs float; "
                "prepared: Constant->initializers, opset>=13, rec height fixed"
            )
            + ("; int8-mixed: the same, quantize/float_kept.json's nodes float and recipe" if mixed_files else ""),
            "stages": stages,
            "gate": gate,
            "seconds": seconds,
            "artifacts": record.artifact_hashes(building, files),
        }
        record.write_record(building, rec)
        _swap_in(building, final)
        log(f"{bundle.id} {backend}: {verdict['summary']} -> {final}")
        results.append(BackendResult(backend, False, "built", rec, final))
    log(
        f"total {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU "
        "(CPU time / cores approximates wall time on an idle machine)"
    )
    return results
