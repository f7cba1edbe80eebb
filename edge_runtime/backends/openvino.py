"""OpenVINO backend: reads ONNX or IR; float precision pinned so results do not drift between hosts."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np
import openvino as ov

from edge_runtime.backends.base import Feeds, LanedSession, Lanes, Outputs, SessionOptions, best_class_outputs
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


class OvSession(LanedSession):
    """One model, compiled twice on a CPU with several streams: for every thread (a run alone) and as
    one-thread throughput streams (runs that overlap); both give bit-identical outputs (tested)."""

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
        config: dict[str, object] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": options.ov_precision_hint,
        }
        if target == "CPU":
            config["INFERENCE_NUM_THREADS"] = options.threads
            # OpenVINO pins each compiled model's threads to cores counted from the first, per model and per
            # process: two one-thread models (this process's det and rec lanes, or a second process such as
            # the fleet agent's) then share core 0 while core 1 idles. Measured on 2 cores: two one-thread
            # processes ran 4.9 recognizer batches/s each pinned, 10.0 unpinned. The OS scheduler places them.
            config["ENABLE_CPU_PINNING"] = False
            if options.ov_runtime_cache >= 0:  # shape-specific executors kept per stream (docs/memory.md)
                config["CPU_RUNTIME_CACHE_CAPACITY"] = options.ov_runtime_cache
        streams = options.streams if target == "CPU" and options.streams > 1 else 0
        try:
            model = core().read_model(str(path))
            if options.best_class:
                model = _best_class(model)
            self._compiled = core().compile_model(model, target, config)
            narrow = (
                core().compile_model(
                    model,
                    target,
                    {
                        **config,
                        "PERFORMANCE_HINT": "THROUGHPUT",
                        "NUM_STREAMS": streams,
                        "INFERENCE_NUM_THREADS": streams,
                    },
                )
                if streams
                else None
            )
        except Exception as exc:
            raise ModelError(f"OpenVINO cannot load {path}: {exc}", "MODEL_CORRUPT") from exc
        self.device = options.device
        self.compile_config = config  # what the wide request was compiled with (OpenVINO cannot read all of it back)
        self.inputs = [p.any_name for p in self._compiled.inputs]
        self.outputs = [p.any_name for p in self._compiled.outputs]
        # a request runs one inference at a time: one per lane (a device other than the CPU queues its own)
        kept = _Releasing(self._compiled)
        wide = [(self._compiled.create_infer_request(), kept) for _ in range(1 if target == "CPU" else 2)]
        thin = _Releasing(narrow) if narrow else None
        lanes = [(narrow.create_infer_request(), thin) for _ in range(streams)] if narrow and thin else []
        self._lanes = Lanes(wide, lanes, _run_best if options.best_class else _run)


# Inputs this large leave buffers worth giving back: every detector page (at least 736 x 736 x 12 B = 6.2 MiB)
# and the recognizer's wider batches (4 lines over ~900 columns). Measured in-process, 16 clients on document
# pages, 640 MiB budget: peak RSS 1.51 GB at 2 MiB, 1.64 GB at 4 MiB, 2.41 GB at 32 MiB (docs/memory.md)
RELEASE_AFTER_BYTES = 2 * 1024 * 1024


class _Releasing:
    """Gives a compiled model's intermediate buffers back after a large run once none of its runs is in flight.

    OpenVINO's CPU plugin keeps each request's buffers at the largest shape it has run: after a few full-page
    scans, ~330 MB per request, three requests a model, whatever the load is now (docs/memory.md). Releasing
    costs the next run its allocation (~20-60 ms after a page; small runs keep theirs); a run waits while a
    release is under way."""

    def __init__(self, compiled: ov.CompiledModel) -> None:
        self.compiled = compiled
        self._lock = threading.Lock()
        self._running = 0
        self._large_since_release = False

    def infer(self, request: ov.InferRequest, feeds: Feeds) -> Outputs:
        with self._lock:
            self._running += 1
        try:
            return _infer(request, feeds)
        finally:
            large = sum(value.nbytes for value in feeds.values()) >= RELEASE_AFTER_BYTES
            with self._lock:
                self._running -= 1
                # a large run's buffers go back once the model is idle, also when a small run ends last
                self._large_since_release |= large
                if self._large_since_release and self._running == 0:
                    self._large_since_release = False
                    with contextlib.suppress(RuntimeError):  # a plugin that finds itself busy keeps its buffers
                        self.compiled.release_memory()


def _run(lane: tuple[ov.InferRequest, _Releasing], feeds: Feeds) -> Outputs:
    return lane[1].infer(lane[0], feeds)


def _run_best(lane: tuple[ov.InferRequest, _Releasing], feeds: Feeds) -> Outputs:
    score, index = lane[1].infer(lane[0], feeds)
    return best_class_outputs(score, index)


def _best_class(model: ov.Model) -> ov.Model:
    """The model with its (... x C) output replaced by the best class per step and its score: a stable TopK, so
    ties go to the lower class as with numpy's argmax."""
    import openvino.opset11 as ops

    probs = model.get_results()[0].input_value(0)
    top = ops.topk(probs, np.int64(1), -1, "max", "value", "i32", stable=True)
    return ov.Model([top.output(0), top.output(1)], model.get_parameters(), model.friendly_name)


def _infer(request: ov.InferRequest, feeds: Feeds) -> Outputs:
    result = request.infer(feeds, share_inputs=True)  # the inputs outlive this synchronous call
    return [np.array(value) for value in result.to_tuple()]  # copies: the request's buffers are reused


def load(path: Path, options: SessionOptions) -> OvSession:
    return OvSession(path, options)
