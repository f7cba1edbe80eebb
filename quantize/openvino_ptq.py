"""OpenVINO INT8: NNCF post-training quantization of the bundle's ONNX, saved as IR (FP32 weights kept)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["quantize_stage", "head_matmuls"]


def head_matmuls(model: Any) -> list[str]:
    """Names of the MatMuls that produce the outputs: the first MatMul walking back from each output."""
    names = []
    for result in model.get_results():
        node = result.input_value(0).get_node()
        while node.get_type_name() != "MatMul" and node.get_input_size() > 0:
            node = node.input_value(0).get_node()
        if node.get_type_name() == "MatMul":
            names.append(node.get_friendly_name())
    return names


def quantize_stage(
    onnx_path: Path,
    samples: Sequence[np.ndarray],
    out_xml: Path,
    stage: str,
    fast_bias_correction: bool = True,
    ignored: Sequence[str] = (),
    preset: Any = None,
    model_type: Any = "default",
    smooth_quant_alpha: float | None = None,
    bias_correction: bool = True,
) -> list[Path]:
    """Quantize one stage; returns the files written (``.xml`` and ``.bin``).

    ``ignored``: more node names kept in float (the mixed candidate's set, ``quantize.mixed``); ``preset``,
    ``model_type``, ``smooth_quant_alpha`` (MatMuls) and ``bias_correction`` replace the defaults below (the
    sensitivity sweep compares them: ``bench/rec_sensitivity.py``).

    The recognizer is an SVTR (attention) network: ``model_type=TRANSFORMER`` keeps NNCF from quantizing
    the attention's softmax/LayerNorm inputs and adds SmoothQuant. Its classifier head (hidden -> ~18k
    characters) stays FP32: without VNNI, OpenVINO runs that INT8 MatMul on a slower legacy kernel than FP32
    (measured 21 vs 15 ms of a 128 ms batch on this AVX2 host).
    """
    import nncf  # heavy imports: only when this backend is built
    import openvino as ov

    model = ov.Core().read_model(str(onnx_path))
    names = [*(head_matmuls(model) if stage == "rec" else []), *ignored]
    advanced = None
    if smooth_quant_alpha is not None or not bias_correction:
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

        alphas = AdvancedSmoothQuantParameters(matmul=0.95 if smooth_quant_alpha is None else smooth_quant_alpha)
        advanced = AdvancedQuantizationParameters(
            smooth_quant_alphas=alphas, disable_bias_correction=not bias_correction
        )
    if model_type == "default":
        model_type = nncf.ModelType.TRANSFORMER if stage == "rec" else None
    dataset = nncf.Dataset(list(samples))
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF draws its own progress bars; the CLI has one
        quantized = nncf.quantize(
            model,
            dataset,
            preset=preset or nncf.QuantizationPreset.MIXED,  # asymmetric activations: better on both stages here
            target_device=nncf.TargetDevice.CPU,
            subset_size=len(samples),
            fast_bias_correction=fast_bias_correction,
            model_type=model_type,
            ignored_scope=nncf.IgnoredScope(names=names) if names else None,
            advanced_parameters=advanced,
        )
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return [out_xml, out_xml.with_suffix(".bin")]
