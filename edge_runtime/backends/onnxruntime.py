"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers, chosen at run time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_runtime.backends.base import SessionOptions
from edge_runtime.errors import BackendUnavailableError, ModelError

_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


class OrtSession:
    backend = "onnxruntime"

    def __init__(self, path: Path, options: SessionOptions) -> None:
        if options.device not in _PROVIDERS:
            raise BackendUnavailableError(
                f"device {options.device!r} is not an ONNX Runtime device; use cpu, cuda or tensorrt "
                "(gpu and npu are OpenVINO devices: --backend openvino)"
            )
        wanted = _PROVIDERS[options.device]
        if wanted[0] not in ort.get_available_providers():
            raise BackendUnavailableError(
                f"device {options.device!r} needs {wanted[0]}, which this onnxruntime build lacks "
                f"(has: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu on a CUDA host"
            )
        so = ort.SessionOptions()
        so.intra_op_num_threads = options.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), sess_options=so, providers=wanted)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"onnxruntime cannot load {path}: {exc}", "MODEL_CORRUPT") from exc
        self.device = options.device
        self.inputs = [i.name for i in self._session.get_inputs()]
        self.outputs = [o.name for o in self._session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(None, feeds)  # InferenceSession.run is thread-safe

    def run_many(self, feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
        return [self.run(f) for f in feeds]  # one run already uses every intra-op thread


def load(path: Path, options: SessionOptions) -> OrtSession:
    return OrtSession(path, options)
