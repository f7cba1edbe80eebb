"""The ``int8-mixed`` candidate: built from quantize/float_kept.json, recorded by the gate, and its float-kept
nodes really run in float in the artifact (read back from the OpenVINO IR / the QDQ ONNX, not from our own
record), while the rest of the model is INT8; a recipe without bias correction leaves the model's biases as
they are (read back from the IR)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_runtime.artifacts import int8_dir, quantization_record
from models import load_bundle
from quantize import mixed
from quantize.build import STAGE_FILES

BACKENDS = ["openvino", "onnxruntime"]
WEIGHTED = {"Convolution", "GroupConvolution", "MatMul", "Conv"}


def _quantized_input(output: Any, depth: int = 4) -> bool:
    """True when an OpenVINO input comes through a FakeQuantize or from INT8 weights (a few hops up)."""
    node = output.get_node()
    kind = node.get_type_name()
    if kind == "FakeQuantize":
        return True
    if kind == "Constant":
        return node.get_element_type().get_type_name() in ("i8", "u8", "i4", "u4")
    if depth and kind in ("Multiply", "Subtract", "Convert", "Reshape"):
        return any(_quantized_input(node.input_value(i), depth - 1) for i in range(node.get_input_size()))
    return False


def quantized_ops(path: Path) -> dict[str, bool]:
    """Weighted op name (the ONNX file's) -> whether it runs quantized in the artifact at ``path``."""
    if path.suffix == ".xml":
        import openvino as ov

        ops = [op for op in ov.Core().read_model(str(path)).get_ordered_ops() if op.get_type_name() in WEIGHTED]
        return {
            op.get_friendly_name(): any(_quantized_input(op.input_value(i)) for i in range(op.get_input_size()))
            for op in ops
        }
    import onnx

    graph = onnx.load(str(path)).graph
    dequantized = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return {n.name: any(i in dequantized for i in n.input) for n in graph.node if n.op_type in WEIGHTED}


def biases(path: Path) -> dict[str, np.ndarray]:
    """Weighted op name -> the constant added to its output (its bias) in an OpenVINO-readable model."""
    import openvino as ov

    out = {}
    for op in ov.Core().read_model(str(path)).get_ordered_ops():
        if op.get_type_name() not in WEIGHTED:
            continue
        for target in op.output(0).get_target_inputs():
            add = target.get_node()
            if add.get_type_name() != "Add":
                continue
            other = add.input_value(1 - target.get_index()).get_node()
            while other.get_type_name() in ("Convert", "Reshape", "Unsqueeze"):
                other = other.input_value(0).get_node()
            if other.get_type_name() == "Constant":
                out[op.get_friendly_name()] = other.get_data().astype(np.float32).ravel()
    return out


def _built_record(backend: str, stages: dict[str, tuple[str, ...]]) -> dict:
    record = quantization_record(load_bundle(), backend)
    if record is None or any("float_kept" not in record["stages"].get(s, {}) for s in stages):
        pytest.fail(f"no gate record with the int8-mixed candidate for {backend}: run python -m quantize")
    return record


def _mixed_stages(backend: str) -> dict[str, tuple[str, ...]]:
    """Stage -> float-kept nodes, for the stages of the default bundle with a mixed candidate on ``backend``."""
    bundle = load_bundle()
    stages = [s for s in ("det", "rec") if mixed.built(bundle.id, s, backend)]
    return {s: mixed.float_kept(bundle.id, s, backend) or () for s in stages}


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_candidate_is_built_and_recorded(backend: str) -> None:
    stages = _mixed_stages(backend)
    if not stages:
        pytest.skip(f"the default bundle has no mixed candidate on {backend} (quantize/float_kept.json)")
    record = _built_record(backend, stages)
    for stage, names in stages.items():
        entry = record["stages"][stage]
        name = mixed.mixed_file(STAGE_FILES[backend][stage])
        assert name in record["artifacts"] and name in entry["files"], entry["files"]
        assert entry["float_kept"] == list(names)
        assert entry["mixed_recipe"] == (mixed.recipe(load_bundle().id, stage, backend) or {})
        verdict = entry["candidates"][mixed.NAME].split(":")[0].split(",")[0]
        assert verdict in ("served", "refused", "not served", "not judged", "within budget"), verdict
        assert mixed.NAME in entry["speed_ms"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_kept_nodes_are_float_in_the_artifact(backend: str) -> None:
    bundle = load_bundle()
    stages = {s: names for s, names in _mixed_stages(backend).items() if names}
    if not stages:
        pytest.skip(f"the default bundle keeps nothing float on {backend} (quantize/float_kept.json)")
    _built_record(backend, stages)
    for stage, names in stages.items():
        full = STAGE_FILES[backend][stage]
        ops = quantized_ops(int8_dir(bundle, backend) / mixed.mixed_file(full))
        assert set(names) <= set(ops), sorted(set(names) - set(ops))
        assert not [n for n in names if ops[n]], "float-kept nodes quantized"
        assert sum(ops.values()) >= len(ops) // 3, "the rest of the model is INT8"  # not a float copy
        if backend == "openvino":  # control: the full INT8 file quantizes those same nodes
            int8 = quantized_ops(int8_dir(bundle, backend) / full)
            assert all(int8[n] for n in names), [n for n in names if not int8[n]]


def test_no_bias_correction_keeps_the_models_biases() -> None:
    """Where the recipe turns NNCF's bias correction off, every bias in the mixed IR is the FP32 model's; the full
    INT8 file (bias corrected) changes some of them: the control that the comparison can see a correction."""
    bundle = load_bundle()
    stages = {
        s: names
        for s, names in _mixed_stages("openvino").items()
        if (mixed.recipe(bundle.id, s, "openvino") or {}).get("bias_correction") is False
    }
    if not stages:
        pytest.skip("no OpenVINO mixed recipe without bias correction (quantize/float_kept.json)")
    _built_record("openvino", stages)
    for stage in stages:
        ref = biases(bundle.path(stage))
        folder = int8_dir(bundle, "openvino")
        got = biases(folder / mixed.mixed_file(STAGE_FILES["openvino"][stage]))
        corrected = biases(folder / STAGE_FILES["openvino"][stage])
        assert len(ref) > 10 and set(got) == set(ref), sorted(set(ref) ^ set(got))
        assert [n for n in ref if not np.array_equal(got[n], ref[n])] == []
        assert any(not np.array_equal(corrected[n], ref[n]) for n in ref)


def test_a_recipe_alone_makes_a_candidate_and_unknown_keys_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = {"m": {"rec": {"recipe": {"openvino": {"bias_correction": False}}}, "det": {"recipe": {"openvino": {}}}}}
    path = tmp_path / "float_kept.json"
    path.write_text(json.dumps(entry))
    monkeypatch.setattr(mixed, "FLOAT_KEPT", path)
    assert mixed.built("m", "rec", "openvino") and mixed.float_kept("m", "rec", "openvino") is None
    assert mixed.recipe("m", "rec", "openvino") == {"bias_correction": False}
    assert not mixed.built("m", "rec", "onnxruntime") and not mixed.built("m", "det", "openvino")
    entry["m"]["rec"]["recipe"]["openvino"]["bias_corection"] = False  # a typo must not build INT8 silently
    path.write_text(json.dumps(entry))
    with pytest.raises(ValueError, match="bias_corection"):
        mixed.recipe("m", "rec", "openvino")
