"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers, chosen at run time."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from edge_runtime.backends.base import Feeds, LanedSession, Lanes, Outputs, SessionOptions, best_class_outputs
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
            model: Path | bytes = _best_class(path) if options.best_class else path
            self._session = self._open(model, options.threads, wanted)
            narrow = self._open(model, 1, wanted) if streams else None
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"onnxruntime cannot load {path}: {exc}", "MODEL_CORRUPT") from exc
        self.device = options.device
        self.inputs = [i.name for i in self._session.get_inputs()]
        self.outputs = [o.name for o in self._session.get_outputs()]
        # InferenceSession.run is thread-safe; a one-thread session runs on the calling (lane) thread
        infer = _infer_best if options.best_class else _infer
        self._lanes = Lanes([self._session] * (1 if options.device == "cpu" else 2), [narrow] * streams, infer)

    @staticmethod
    def _open(path: Path | bytes, threads: int, providers: list[str]) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        model = path if isinstance(path, bytes) else str(path)
        return ort.InferenceSession(model, sess_options=so, providers=providers)


def _infer(session: ort.InferenceSession, feeds: Feeds) -> Outputs:
    return session.run(None, feeds)


def _infer_best(session: ort.InferenceSession, feeds: Feeds) -> Outputs:
    score, index = session.run(None, feeds)
    return best_class_outputs(score, index)


def _best_class(path: Path) -> bytes:
    """The model with its (... x C) output replaced by the best class per step and its score (ONNX TopK: ties
    go to the lower class, as with numpy's argmax)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    probs = graph.output[0].name
    graph.initializer.append(helper.make_tensor("best_class_k", TensorProto.INT64, [1], [1]))
    graph.node.append(
        helper.make_node("TopK", [probs, "best_class_k"], ["best_score", "best_class"], axis=-1, largest=1, sorted=1)
    )
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("best_score", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("best_class", TensorProto.INT64, None),
        ]
    )
    return model.SerializeToString()


def load(path: Path, options: SessionOptions) -> OrtSession:
    return OrtSession(path, options)
