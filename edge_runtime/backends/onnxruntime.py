"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers, chosen at run time."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from edge_runtime.backends.base import Feeds, LanedSession, Lanes, Outputs, SessionOptions
from edge_runtime.errors import BackendUnavailableError, ModelError

_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


class OrtSession(LanedSession):
    """One model; on a CPU with several streams also a one-thread session, whose runs overlapping runs take
    side by side (each on its lane's thread); both give bit-identical outputs (tested)."""

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
        streams = options.streams if options.device == "cpu" and options.streams > 1 else 0
        try:
            self._session = self._open(path, options.threads, wanted)
            narrow = self._open(path, 1, wanted) if streams else None
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"onnxruntime cannot load {path}: {exc}", "MODEL_CORRUPT") from exc
        self.device = options.device
        self.inputs = [i.name for i in self._session.get_inputs()]
        self.outputs = [o.name for o in self._session.get_outputs()]
        # InferenceSession.run is thread-safe; a one-thread session runs on the calling (lane) thread
        self._lanes = Lanes([self._session] * (1 if options.device == "cpu" else 2), [narrow] * streams, _infer)

    @staticmethod
    def _open(path: Path, threads: int, providers: list[str]) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        return ort.InferenceSession(str(path), sess_options=so, providers=providers)


def _infer(session: ort.InferenceSession, feeds: Feeds) -> Outputs:
    return session.run(None, feeds)


def load(path: Path, options: SessionOptions) -> OrtSession:
    return OrtSession(path, options)
