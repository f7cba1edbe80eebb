"""OpenVINO backend: reads ONNX or IR; float precision pinned so results do not drift between hosts."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import openvino as ov

from edge_runtime.backends.base import SessionOptions
from edge_runtime.errors import BackendUnavailableError, ModelError

_DEVICES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"}
_core: ov.Core | None = None
_core_lock = threading.Lock()


def core() -> ov.Core:
    global _core
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


class OvSession:
    backend = "openvino"

    def __init__(self, path: Path, options: SessionOptions) -> None:
        if options.device not in _DEVICES:
            raise BackendUnavailableError(
                f"device {options.device!r} is not an OpenVINO device; use cpu, gpu or npu "
                "(cuda and tensorrt are ONNX Runtime execution providers: --backend onnxruntime)"
            )
        target = _DEVICES[options.device]
        if target not in core().available_devices:
            raise BackendUnavailableError(
                f"OpenVINO device {target} is not present on this host (has: {', '.join(core().available_devices)})"
            )
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": options.ov_precision_hint}
        if target == "CPU":
            config["INFERENCE_NUM_THREADS"] = options.threads
        self._parallel: ov.CompiledModel | None = None
        try:
            model = core().read_model(str(path))
            self._compiled = core().compile_model(model, target, config)
            if target == "CPU" and options.streams > 1:
                # Small convolutions scale poorly over threads: several one-thread streams, each on its own
                # run, get more done than all threads on one run (recognizer batches on a 2-core AVX2 host: 14-22 %
                # in isolation, ~10 % of a page's recognition). Costs a second compiled copy of the model.
                self._parallel = core().compile_model(model, target, {
                    **config, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": options.streams})
        except Exception as exc:
            raise ModelError(f"OpenVINO cannot load {path}: {exc}", "MODEL_CORRUPT") from exc
        self.device = options.device
        self.inputs = [p.any_name for p in self._compiled.inputs]
        self.outputs = [p.any_name for p in self._compiled.outputs]
        self._local = threading.local()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:  # one infer request per thread: requests are not thread-safe
            request = self._local.request = self._compiled.create_infer_request()
        result = request.infer(feeds, share_inputs=False)
        return [np.array(result[out]) for out in self._compiled.outputs]

    def run_many(self, feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
        """Runs side by side on the one-thread streams when there are several; one run keeps every thread."""
        if self._parallel is None or len(feeds) < 2:
            return [self.run(f) for f in feeds]
        queue = getattr(self._local, "queue", None)
        if queue is None:  # per thread, like the requests: a queue is not thread-safe
            queue = self._local.queue = ov.AsyncInferQueue(self._parallel)
            queue.set_callback(self._collect)
        results: list[list[np.ndarray] | None] = [None] * len(feeds)
        for i, f in enumerate(feeds):
            queue.start_async(f, (results, i), share_inputs=False)
        queue.wait_all()
        if any(r is None for r in results):
            raise RuntimeError("OpenVINO finished a parallel run without its outputs")
        return results  # type: ignore[return-value]

    def _collect(self, request: ov.InferRequest, slot: tuple[list, int]) -> None:
        results, i = slot
        results[i] = [np.array(request.get_tensor(out).data) for out in self._parallel.outputs]  # type: ignore[union-attr]


def load(path: Path, options: SessionOptions) -> OvSession:
    return OvSession(path, options)
