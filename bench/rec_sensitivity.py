"""Where the recognizer loses accuracy under INT8: a per-block sensitivity sweep on the gate's own data and metric.

The gate refuses OpenVINO's INT8 recognizer on receipts (about -2.3 points of word F1). This sweep finds the
blocks to keep in float. It quantizes the recognizer once (``quantize.openvino_ptq``, the build's own recipe and
calibration crops), then makes one variant per block by putting that block back in float *inside the quantized
IR* (its FakeQuantize inputs bypassed, its weights replaced by the ONNX file's float ones): seconds per variant
instead of a minute of NNCF per variant. That leaves NNCF's bias correction of the other layers as it was, so the
chosen set is confirmed afterwards with a real ``ignored_scope`` build (``--confirm``, and then the gate).

Each variant is read end to end on the gate's images (``quantize.calibration.GATE_SETS``; receipts and line crops
by default), with the FP32 detector's crops cached once per image (only the recognizer changes), scored with
the gate's headline figures and paired bootstrap. Modes: ``float``: everything INT8 but one block (how much that
block's quantization costs, measured as what keeping it float wins back); ``greedy``: blocks kept float
cumulatively in order of what they win back, until the loss is within ``--target``.

``--real`` also reads the team's real-world check sets (``quantize.calibration.REAL_CHECK_SETS``, what
tests/quantize/test_gate.py holds the served engine to: each headline within a point of FP32), which the rendered
gate sets once failed to foresee; ``--det`` reads them on the crops of the detector a host serves.

    python -m bench.rec_sensitivity [--sets synth_receipts:28 rec_synth_lines:60] [--target 0.5]
                                    [--variants no-bias-correction,@stem,no-bias-correction@stem,...] [--confirm]
                                    [--real [--det fp32|bf16|int8] [--engine FIELD=VALUE ...]]

Writes bench/out/rec_sensitivity.json (every variant's figures) and prints one line per variant.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BLOCKS", "main", "keep_float"]

OUT = Path(__file__).resolve().parent / "out" / "rec_sensitivity.json"

# PP-OCRv6 small recognizer (PPLCNetV3 backbone + SVTR neck + CTC head), its weighted ops in graph order, in blocks.
# Node names are the ONNX file's (OpenVINO keeps them as friendly names).
BLOCKS: dict[str, tuple[str, ...]] = {
    "stem": ("Conv.0", "Conv.1", "Conv.2"),
    **{
        f"backbone{i}": tuple(f"Conv.{n}" for n in range(a, b + 1))
        for i, (a, b) in enumerate(
            [
                (3, 7),
                (8, 10),
                (11, 13),
                (14, 16),
                (17, 21),
                (22, 24),
                (25, 29),
                (30, 32),
                (33, 37),
                (38, 40),
                (41, 43),
                (44, 48),
                (49, 51),
                (52, 53),
            ],
            start=1,
        )
    },
    "neck_conv": ("Conv.54", "Conv.55", "Conv.56"),
    "svtr1_attn": ("MatMul.0", "MatMul.1", "MatMul.2", "MatMul.3"),
    "svtr1_mlp": ("MatMul.4", "MatMul.5"),
    "svtr2_attn": ("MatMul.6", "MatMul.7", "MatMul.8", "MatMul.9"),
    "svtr2_mlp": ("MatMul.10", "MatMul.11"),
}


# NNCF recipe changes the sweep compares (``quantize.openvino_ptq.quantize_stage``'s arguments; the preset and the
# model type are named, not imported, so that --help needs no NNCF).
RECIPES: dict[str, dict[str, Any]] = {
    "symmetric": {"preset": "PERFORMANCE"},
    "no-smooth": {"model_type": None},
    "smooth-0.5": {"smooth_quant_alpha": 0.5},
    "smooth-0.8": {"smooth_quant_alpha": 0.8},
    "smooth-0.95": {"smooth_quant_alpha": 0.95},
    "no-bias-correction": {"bias_correction": False},
    "full-bias-correction": {"fast_bias_correction": False},
}


def recipe(variant: str) -> tuple[int, dict[str, Any], list[str]]:
    """``RECIPE[+RECIPE...][@BLOCK+...]`` -> (calibration crops, 0 for the build's own; quantize_stage's
    arguments; blocks kept float)."""
    import nncf

    recipes, _, blocks = variant.partition("@")
    crops, nncf_args = 0, {}
    for name in filter(None, recipes.split("+")):
        if name == "more-crops" or name.startswith("crops-"):
            crops = 384 if name == "more-crops" else int(name.removeprefix("crops-"))
        elif name in RECIPES:
            nncf_args.update(RECIPES[name])
        else:
            raise SystemExit(f"unknown recipe {name!r} in {variant!r}: one of {', '.join(RECIPES)}, crops-N")
    if "preset" in nncf_args:
        nncf_args["preset"] = getattr(nncf.QuantizationPreset, nncf_args["preset"])
    unknown = [b for b in filter(None, blocks.split("+")) if b not in BLOCKS]
    if unknown:
        raise SystemExit(f"unknown blocks {unknown} in {variant!r}")
    return crops, nncf_args, [b for b in blocks.split("+") if b]


def engine_changes(pairs: Sequence[str]) -> dict[str, Any]:
    """``["det_small_text_height=28"]`` -> EngineConfig changes, each value parsed as its field's type."""
    import dataclasses

    from edge_runtime.config import EngineConfig

    kinds = {f.name: type(getattr(EngineConfig(), f.name)) for f in dataclasses.fields(EngineConfig)}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in kinds or not text or kinds[name] not in (int, float, str, bool):
            raise SystemExit(f"--engine {pair!r}: expected FIELD=VALUE with a number, text or bool field")
        kind = kinds[name]
        out[name] = text.strip().lower() in ("1", "true", "yes", "on") if kind is bool else kind(text)
    return out


def _onnx_weights(onnx_path: Path) -> dict[str, np.ndarray]:
    """Float weights (input 1) of every Conv/MatMul of the ONNX file, by node name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    inits = {t.name: t for t in model.graph.initializer}
    consts = {n.output[0]: n.attribute[0].t for n in model.graph.node if n.op_type == "Constant" and n.attribute}
    out = {}
    for node in model.graph.node:
        if node.op_type in ("Conv", "MatMul") and len(node.input) > 1:
            tensor = inits.get(node.input[1]) or consts.get(node.input[1])
            if tensor is not None:
                out[node.name] = numpy_helper.to_array(tensor).astype(np.float32)
    return out


def keep_float(model: Any, names: Sequence[str], weights: Mapping[str, np.ndarray]) -> int:
    """Put the ops ``names`` of an NNCF-quantized OpenVINO model back in float, in place: each input that
    comes through a FakeQuantize reads the FakeQuantize's input instead (only for this op: other readers of
    the same tensor stay quantized), and compressed weights are replaced by the float ones. Returns how many
    inputs were changed."""
    import openvino as ov

    wanted, changed = set(names), 0
    for op in model.get_ordered_ops():
        if op.get_friendly_name() not in wanted:
            continue
        for i in range(op.get_input_size()):
            source = op.input_value(i)
            # FakeQuantize, and SmoothQuant's scaling of the activations (folded into the INT8 weights, which
            # are replaced by the float ones below)
            while source.get_node().get_type_name() == "FakeQuantize" or (
                i == 0 and "nncf_smooth_quant" in source.get_node().get_friendly_name()
            ):
                source = source.get_node().input_value(0)
            if source != op.input_value(i):
                op.input(i).replace_source_output(source)
                changed += 1
            src = op.input_value(i).get_node()
            if i == 1 and src.get_type_name() == "Multiply" and op.get_friendly_name() in weights:
                shape = tuple(op.input_value(1).get_partial_shape().to_shape())
                w = weights[op.get_friendly_name()]
                if w.ndim == 2 and w.shape != shape and w.T.shape == shape:
                    w = np.ascontiguousarray(w.T)  # MatMul with transpose_b
                elif w.shape != shape and w.size == int(np.prod(shape)):
                    w = w.reshape(shape)  # grouped convolution: [G, 1, 1, kh, kw]
                if w.shape != shape:
                    raise ValueError(f"{op.get_friendly_name()}: float weights {w.shape} do not fit {shape}")
                op.input(i).replace_source_output(ov.op.Constant(w).output(0))
                changed += 1
    model.validate_nodes_and_infer_types()
    return changed


class CachedReader:
    """Reads the gate images with one engine's recognizer, on crops an FP32 engine found once (detector and
    angle classifier are FP32 in every rec configuration of the gate, so their crops are the same)."""

    def __init__(self, fp32_engine: Any) -> None:
        self._fp32 = fp32_engine
        self._pages: dict[str, tuple[int, int, list]] = {}

    def reader(self, engine: Any) -> Callable[[Any, bool], list]:
        def recognize_fn(image: Any, skip_detection: bool) -> list:
            if skip_detection:
                return [(ln.text, ln.polygon) for ln in engine.recognize(image, skip_detection=True).lines]
            key = str(image)
            if key not in self._pages:
                page = self._fp32.load_image(image)
                self._pages[key] = (page.shape[0], page.shape[1], self._fp32.lines(page))
            h, w, crops = self._pages[key]
            crops = copy.deepcopy(crops)  # the second look turns crops in place
            result = engine.assemble(h, w, crops, engine.read_lines(crops), {})
            return [(ln.text, ln.polygon) for ln in result.lines]

        return recognize_fn


def _figures(read: Callable, sets: Sequence[tuple[str, int, Path]]) -> dict[str, Any]:
    """Each set's headline and per-image figures (``sets``: name, first N, the folder it is in)."""
    from edge_runtime.evaluation.accuracy import evaluate_set
    from edge_runtime.evaluation.datasets import kind_of
    from quantize.gate import _per_image

    out = {}
    for name, limit, data_dir in sets:
        r = evaluate_set(read, name, data_dir, limit, keep_samples=True)
        out[name] = {"value": r["value"], "per_image": [_per_image(kind_of(name), s) for s in r["samples"]]}
    return out


def _losses(base: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    from quantize.decide import paired_bootstrap

    out = {}
    for name in other:
        b = paired_bootstrap(base[name]["per_image"], other[name]["per_image"])
        out[name] = {
            "loss_pt": round(b.mean_loss_pt, 3),
            "sd_pt": round(b.sd_pt, 3),
            "p_loss": round(b.p_loss, 3),
            "drop_pt": round(100 * (base[name]["value"] - other[name]["value"]), 2),  # the real-world check's
        }
    return out


def real_check(loss: Mapping[str, Mapping[str, float]], real: Sequence[str]) -> bool | None:
    """tests/quantize/test_gate.py's rule on the real-world sets read: every headline within a point of FP32."""
    drops = [loss[name]["drop_pt"] for name in real if name in loss]
    return all(d <= 1.0 for d in drops) if drops else None


def _ort_variants(
    bundle: Any,
    calib: list[np.ndarray],
    blocks: Sequence[str],
    tmp: Path,
    base: Mapping[str, Any],
    sets: Sequence[tuple[str, int, Path]],
    report: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    """ONNX Runtime QDQ: the int8 recipe (MatMul only), all Conv+MatMul, and Conv+MatMul with ``blocks`` float;
    read like the OpenVINO variants (ORT FP32 crops) and timed against FP32 on calibration batches (noisy)."""
    from edge_runtime.backends import SessionOptions, load
    from edge_runtime.config import EngineConfig
    from edge_runtime.pipeline import OcrEngine
    from quantize import onnx_qdq
    from quantize.decide import time_sessions
    from quantize.gate import staged_bundle

    fp32 = OcrEngine(EngineConfig(bundle=bundle.id, backend="onnxruntime", precision="fp32"), bundle=bundle)
    cache = CachedReader(fp32)
    ort_base = _figures(cache.reader(fp32), sets)
    kept = [n for b in blocks for n in BLOCKS[b]]
    variants: dict[str, dict[str, Any]] = {
        "ort:int8": {},
        "ort:conv+matmul": {"op_types": ("Conv", "MatMul")},
        "ort:conv+matmul-float:" + "+".join(blocks): {"op_types": ("Conv", "MatMul"), "exclude": kept},
    }
    sessions = {"fp32": load("onnxruntime", bundle.path("rec"), SessionOptions("cpu", 0, "f32"))}
    for i, (label, options) in enumerate(variants.items()):
        folder = tmp / f"ort{i}"
        t0 = time.perf_counter()
        rec_height = bundle.params.rec_height
        onnx_qdq.quantize_stage(bundle.path("rec"), calib, folder / "rec.onnx", "rec", rec_height, **options)
        built = time.perf_counter() - t0
        staged = staged_bundle(bundle, "onnxruntime", folder, {"rec": "rec.onnx"}, {"rec": "int8"}, tmp / f"ortb{i}")
        engine = OcrEngine(EngineConfig(backend="onnxruntime", precision="auto"), bundle=staged)
        figures = _figures(cache.reader(engine), sets)
        report["variants"][label] = {
            "figures": {s: round(100 * v["value"], 2) for s, v in figures.items()},
            "loss": _losses(ort_base, figures),
            "build_s": round(built, 1),
        }
        sessions[label] = load("onnxruntime", folder / "rec.onnx", SessionOptions("cpu", 0, "f32"))
        log(f"{label}: {report['variants'][label]['loss']} (built in {built:.0f} s)")
    shapes = [list(b.shape) for b in calib[:: max(1, len(calib) // 6)]][:6]
    load_avg = os.getloadavg()[0]
    speed = time_sessions(sessions, shapes, 5)
    report["ort_speed_ms"] = {k: round(v, 1) for k, v in speed.items()}
    report["ort_speed_load_average"] = [round(load_avg, 1), round(os.getloadavg()[0], 1)]
    log(f"ort speed (ms, noisy, load {load_avg:.1f}): {report['ort_speed_ms']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rec_sensitivity", description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None)
    parser.add_argument(
        "--sets", nargs="+", default=["synth_receipts:28", "rec_synth_lines:60"], help="gate sets as NAME:FIRST_N"
    )
    parser.add_argument("--target", type=float, default=0.5, help="greedy: stop when every set loses at most this")
    parser.add_argument("--modes", default="float,greedy", help="float (one block float at a time), greedy")
    parser.add_argument(
        "--variants",
        default="",
        help="comma-separated recipe variants to compare, each a full NNCF build: RECIPE[+RECIPE...][@BLOCK+...] "
        "with RECIPE one of " + ", ".join(RECIPES) + ", crops-N (N calibration crops; more-crops: 384) and the "
        "BLOCKs kept float by ignored_scope (e.g. no-bias-correction@stem, @stem+backbone1+backbone2)",
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="also read the team's real-world check sets (quantize.calibration.REAL_CHECK_SETS, from --eval-dir) "
        "and print each one's headline drop against FP32 and whether all are within a point (test_gate's rule)",
    )
    parser.add_argument("--eval-dir", type=Path, default=None, help="default: $OCR_EVAL_DIR or ../shared/eval")
    parser.add_argument(
        "--engine",
        nargs="*",
        default=[],
        help="EngineConfig FIELD=VALUE for every engine that reads (not calibration), e.g. det_small_text_height=28; "
        "use another --cache than the default engine's",
    )
    parser.add_argument(
        "--det",
        default="fp32",
        choices=["fp32", "bf16", "int8"],
        help="the detector whose crops the variants read (the FP32 reference reads FP32 crops): the one a host "
        "serves reproduces test_gate's check of the served pair (bf16: the FP32 file with OpenVINO's BF16 hint; "
        "int8: this bundle's built det.xml); default fp32, only the recognizer differs",
    )
    parser.add_argument("--confirm", default="", help="comma-separated blocks: build with ignored_scope and read")
    parser.add_argument(
        "--ort",
        default="",
        help="comma-separated blocks: ONNX Runtime QDQ of Conv+MatMul with those blocks float (nodes_to_exclude), "
        "beside all Conv+MatMul and the int8 recipe (MatMul only)",
    )
    parser.add_argument("--skip-sweep", action="store_true", help="only the recipe variants, --confirm and --ort")
    parser.add_argument("--blocks", default="", help="comma-separated blocks to sweep (default: all)")
    parser.add_argument(
        "--try", dest="try_sets", default="", help="float sets to read, ';'-separated, blocks '+'-joined (no sweep)"
    )
    parser.add_argument("--greedy-order", default="", help="comma-separated blocks: greedy in this order, no sweep")
    parser.add_argument("--int8-xml", type=Path, default=None, help="reuse this INT8 IR instead of building one")
    parser.add_argument(
        "--cache", type=Path, default=None, help="pickle of the FP32 crops and figures (written when missing)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import nncf
    import openvino as ov

    nncf.set_log_level(logging.WARNING)
    logging.getLogger().setLevel(logging.ERROR)
    from edge_runtime.config import EngineConfig
    from edge_runtime.pipeline import OcrEngine
    from models import load_bundle
    from quantize import calibration, openvino_ptq
    from quantize.gate import staged_bundle

    bundle = load_bundle(args.bundle)
    data_dir = calibration.default_data_dir()
    sets = [(s.split(":")[0], int(s.split(":")[1]), data_dir) for s in args.sets]
    real: list[str] = []
    if args.real:
        from bench.accuracy import default_eval_dir

        eval_dir = args.eval_dir or default_eval_dir()
        if not (eval_dir / "sroie").is_dir():
            raise SystemExit(f"--real: no real-world sets in {eval_dir} (--eval-dir or OCR_EVAL_DIR)")
        sets += [(name, limit, eval_dir) for name, limit in calibration.REAL_CHECK_SETS]
        real = [name for name, _ in calibration.REAL_CHECK_SETS]
    report: dict[str, Any] = {
        "bundle": bundle.id,
        "det": args.det,
        "engine": args.engine,
        "sets": [[name, limit] for name, limit, _ in sets],
        "real_check_sets": real,
        "blocks": BLOCKS,
        "variants": {},
    }
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="edge-ocr-sens-"))

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {text}", flush=True)

    ort_fp32 = OcrEngine(EngineConfig(bundle=bundle.id, backend="onnxruntime", precision="fp32"), bundle=bundle)
    images = calibration.default_calibration(data_dir)

    def samples(crops: int) -> list[np.ndarray]:
        return calibration.collect(ort_fp32, images, 0, crops, 8).rec

    calib: list[np.ndarray] = []
    if not args.int8_xml or args.variants or args.confirm or args.ort:
        calib = samples(192)
        log(f"calibration: {len(calib)} batches")
    engine_args = engine_changes(args.engine)
    ov_fp32 = OcrEngine(
        EngineConfig(bundle=bundle.id, backend="openvino", precision="fp32", **engine_args), bundle=bundle
    )
    fp32_cache = CachedReader(ov_fp32)
    base: dict[str, Any] = {}
    det_pages: dict[str, dict] = {}  # crops per detector precision other than FP32
    if args.cache and args.cache.is_file():
        fp32_cache._pages, base, *more = pickle.loads(args.cache.read_bytes())
        det_pages = more[0] if more else {}
    missing = [s for s in sets if s[0] not in base]
    if missing:  # FP32 read once per set; the cache grows with the sets asked for
        base.update(_figures(fp32_cache.reader(ov_fp32), missing))
    cache = fp32_cache
    if args.det != "fp32":  # the variants read what the served detector finds
        from edge_runtime.artifacts import int8_dir

        det_bundle = staged_bundle(
            bundle, "openvino", int8_dir(bundle, "openvino"), {"det": "det.xml"}, {"det": args.det}, tmp / "det"
        )
        det_engine = OcrEngine(EngineConfig(backend="openvino", precision="auto", **engine_args), bundle=det_bundle)
        if det_engine.precision["det"] != args.det:
            raise SystemExit(f"--det {args.det}: served {det_engine.precision['det']} ({det_engine.precision_reasons})")
        cache = CachedReader(det_engine)
        cache._pages = det_pages.setdefault(args.det, {})
    if args.cache:
        args.cache.write_bytes(pickle.dumps((fp32_cache._pages, base, det_pages)))
    report["fp32"] = {s: round(100 * base[s]["value"], 2) for s, _, _ in sets}
    log(f"fp32: {report['fp32']}")

    count = [0]

    def read_model(model: Any, label: str, **extra: Any) -> dict[str, Any]:
        count[0] += 1
        folder = tmp / f"v{count[0]}"
        ov.save_model(model, str(folder / "rec.xml"), compress_to_fp16=False)
        staged = staged_bundle(bundle, "openvino", folder, {"rec": "rec.xml"}, {"rec": "int8"}, tmp / f"b{count[0]}")
        engine = OcrEngine(EngineConfig(backend="openvino", precision="auto", **engine_args), bundle=staged)
        figures = _figures(cache.reader(engine), sets)
        entry = {
            "figures": {s: round(100 * v["value"], 2) for s, v in figures.items()},
            "loss": _losses(base, figures),
            **extra,
        }
        entry["real_check"] = real_check(entry["loss"], real)
        report["variants"][label] = entry
        losses = entry["loss"].items()
        text = "  ".join(
            f"{s} {v['drop_pt']:+.2f}" if s in real else f"{s} {v['loss_pt']:+.2f} (SD {v['sd_pt']:.2f})"
            for s, v in losses
        )
        verdict = {None: "", True: "  real-world: PASS", False: "  real-world: FAIL"}[entry["real_check"]]
        log(f"{label}: {text}{verdict}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        if args.cache and args.det != "fp32":  # the served detector's crops, found during this read
            args.cache.write_bytes(pickle.dumps((fp32_cache._pages, base, det_pages)))
        return entry

    def build(label: str, calib_samples: list[np.ndarray], ignored: Sequence[str] = (), **nncf_args: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        path = tmp / f"{label.replace('@', '_at_')}.xml"
        with contextlib.redirect_stdout(io.StringIO()):
            openvino_ptq.quantize_stage(bundle.path("rec"), calib_samples, path, "rec", ignored=ignored, **nncf_args)
        built[0] = (time.perf_counter() - t0, time.process_time() - c0)
        log(f"built {label} in {built[0][0]:.0f} s ({built[0][1]:.0f} s CPU)")
        return ov.Core().read_model(str(path))

    built = [(0.0, 0.0)]

    if args.int8_xml:  # read already (its figures are in the run that built it)
        int8_xml = args.int8_xml
    else:
        int8_xml = tmp / "int8.xml"
        read_model(build("int8", calib), "int8")
    weights = _onnx_weights(bundle.path("rec"))
    modes = set(args.modes.split(","))

    def with_float(blocks: Sequence[str]) -> Any:
        model = ov.Core().read_model(str(int8_xml))
        keep_float(model, [n for b in blocks for n in BLOCKS[b]], weights)
        return model

    worst = {}
    if args.skip_sweep:
        modes = set()
    if args.greedy_order or args.try_sets:
        modes.discard("float")
    for chosen in filter(None, args.try_sets.split(";")):
        read_model(with_float(chosen.split("+")), "float:" + chosen, float_kept=chosen.split("+"))
    if "float" in modes or ("greedy" in modes and not args.greedy_order):
        for block in args.blocks.split(",") if args.blocks else BLOCKS:
            entry = read_model(with_float([block]), f"float:{block}", float_kept=[block])
            worst[block] = max(v["loss_pt"] for v in entry["loss"].values())
    if "greedy" in modes:
        order = args.greedy_order.split(",") if args.greedy_order else sorted(worst, key=lambda b: (worst[b], b))
        kept: list[str] = []
        for block in order:
            kept.append(block)
            entry = read_model(with_float(kept), "greedy:" + "+".join(kept), float_kept=list(kept))
            if max(v["loss_pt"] for v in entry["loss"].values()) <= args.target:
                report["greedy_result"] = list(kept)
                break
    for variant in filter(None, args.variants.split(",")):
        crops, nncf_args, blocks = recipe(variant)
        names = [n for b in blocks for n in BLOCKS[b]]
        model = build(variant, samples(crops) if crops else calib, ignored=names, **nncf_args)
        build_s = {"build_s": round(built[0][0], 1), "build_cpu_s": round(built[0][1], 1)}
        read_model(model, f"recipe:{variant}", float_kept=blocks, **build_s)
    if args.confirm:
        blocks = args.confirm.split(",")
        names = [n for b in blocks for n in BLOCKS[b]]
        read_model(build("confirm", calib, ignored=names), "confirm:" + "+".join(blocks), float_kept=blocks)
    if args.ort:
        _ort_variants(bundle, calib, args.ort.split(","), tmp, base, sets, report, log)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
