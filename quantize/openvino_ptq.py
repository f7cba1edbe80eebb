"""OpenVINO INT8: NNCF post-training quantization of the bundle's ONNX, saved as IR (FP32 weights kept)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["quantize_stage"]


def quantize_stage(onnx_path: Path, samples: Sequence[np.ndarray], out_xml: Path, stage: str,
                   fast_bias_correction: bool = True) -> list[Path]:
    """Quantize one stage; returns the files written (``.xml`` and ``.bin``).

    The recognizer is an SVTR (attention) network: ``model_type=TRANSFORMER`` keeps NNCF from quantizing
    the attention's softmax/LayerNorm inputs and adds SmoothQuant.
    """
    import nncf  # heavy imports: only when this backend is built
    import openvino as ov

    model = ov.Core().read_model(str(onnx_path))
    dataset = nncf.Dataset(list(samples))
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF draws its own progress bars; the CLI has one
        quantized = nncf.quantize(
            model,
            dataset,
            preset=nncf.QuantizationPreset.MIXED,  # asymmetric activations: better on both stages here
            target_device=nncf.TargetDevice.CPU,
            subset_size=len(samples),
            fast_bias_correction=fast_bias_correction,
            model_type=nncf.ModelType.TRANSFORMER if stage == "rec" else None,
        )
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return [out_xml, out_xml.with_suffix(".bin")]
