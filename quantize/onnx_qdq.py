"""ONNX Runtime INT8: static QDQ quantization (per-channel QInt8 weights, QUInt8 activations, MinMax).

Before quantizing, the model is prepared: ``quantize_static`` only quantizes initializers, so Constant-node
weights become initializers; per-channel ``DequantizeLinear(axis=...)`` needs opset >= 13; and the
recognizer's height is fixed to 48 (some exports leave it dynamic, which breaks shape inference).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter

__all__ = ["prepare", "quantize_stage", "MIN_OPSET"]

MIN_OPSET = 13
# Which op types get QDQ, per stage (only ops that carry weights, and their input activations).
# Measured on PP-OCRv6 small, argmax agreement of CTC frames with FP32 on held-out detector crops:
# all op types 0.85, Conv only 0.86, MatMul only 0.99. MinMax QDQ of the recognizer's convolutional backbone
# is what breaks it (word F1 -16 points on receipts end to end); NNCF copes with it (bias correction), ORT
# QDQ does not, so ONNX Runtime's recognizer quantizes its MatMuls (the SVTR mixer and the 18k-class head).
OP_TYPES = {"det": ("Conv", "ConvTranspose"), "rec": ("MatMul", "Gemm")}


def _constants_to_initializers(model: onnx.ModelProto) -> int:
    """Move tensor-valued Constant nodes of the main graph into initializers; returns how many moved."""
    graph = model.graph
    keep, moved = [], 0
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            moved += 1
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    return moved


def _fix_height(model: onnx.ModelProto, height: int) -> None:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) == 4 and not dims[2].dim_value:
        dims[2].ClearField("dim_param")
        dims[2].dim_value = height


def prepare(onnx_path: Path, stage: str, rec_height: int = 48) -> onnx.ModelProto:
    """The bundle's ONNX made quantizable (see module docstring). Pure: does not touch ``onnx_path``."""
    model = onnx.load(str(onnx_path))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        model = version_converter.convert_version(model, MIN_OPSET)
    _constants_to_initializers(model)  # after conversion: the converter writes new Constant nodes (axes inputs)
    if stage == "rec":
        _fix_height(model, rec_height)
    # initializers listed as graph inputs (old exporters) would be treated as runtime inputs
    names = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in names]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    return model


def output_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes that produce a graph output. They stay float: a QDQ pair on the recognizer's softmax output rounds
    every class probability to 1/255 steps, which breaks CTC argmax and the confidence filter (NNCF likewise
    leaves outputs unquantized)."""
    outputs = {o.name for o in model.graph.output}
    return [n.name for n in model.graph.node if outputs & set(n.output)]


class _Reader:
    """CalibrationDataReader over preprocessed samples (one sample per run: shapes vary)."""

    def __init__(self, input_name: str, samples: Sequence[np.ndarray]) -> None:
        self._name = input_name
        self._samples = samples
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._samples):
            return None
        self._next += 1
        return {self._name: self._samples[self._next - 1]}

    def rewind(self) -> None:
        self._next = 0


def quantize_stage(
    onnx_path: Path,
    samples: Sequence[np.ndarray],
    out_onnx: Path,
    stage: str,
    rec_height: int = 48,
    exclude: Sequence[str] = (),
    op_types: Sequence[str] | None = None,
) -> list[Path]:
    """Write the QDQ INT8 model of one stage to ``out_onnx``; returns the files written.

    ``exclude``: more node names kept in float; ``op_types``: replaces ``OP_TYPES[stage]`` (the mixed candidate,
    ``quantize.mixed``, quantizes more op types and keeps its sensitive nodes float)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = prepare(onnx_path, stage, rec_height)
    out_onnx.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edge-ocr-qdq-") as tmp:
        prepared = Path(tmp) / f"{stage}.prepared.onnx"
        onnx.save(model, str(prepared))
        quantize_static(
            str(prepared),
            str(out_onnx),
            _Reader(model.graph.input[0].name, samples),
            nodes_to_exclude=[*output_nodes(model), *exclude],
            op_types_to_quantize=list(op_types or OP_TYPES[stage]),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    return [out_onnx]
