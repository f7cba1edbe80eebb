"""What keeps the runtime's per-shape memory bounded (docs/memory.md, "Third round"), on the real models."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime import recognize
from edge_runtime.backends import load
from edge_runtime.backends.base import SessionOptions
from edge_runtime.pipeline import OcrEngine, drive
from tests import rendered
from tests.conftest import get_engine


def _run_shapes(engine: OcrEngine, crops: list[np.ndarray], batch_size: int) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []

    def answer(runs):  # the engine's own answer, with the shapes it was asked for written down
        shapes.extend(run.blob.shape for run in runs)
        return engine.answer(runs)

    drive(engine.read_steps(crops, batch_size), answer)
    return shapes


def test_recognizer_batches_are_full_or_single_lines(fp32_engine) -> None:
    """Six lines of one width bucket run as a batch of four and two single lines: the model sees two batch sizes
    per bucket, and the lines read as they do alone."""
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 255, (32, 200, 3), dtype=np.uint8) for _ in range(6)]
    shapes = _run_shapes(fp32_engine, crops, batch_size=4)
    assert sorted(s[0] for s in shapes) == [1, 1, 4] and len({s[1:] for s in shapes}) == 1
    alone = fp32_engine.read(crops, batch_size=1)
    batched = fp32_engine.read(crops, batch_size=4)
    assert [r.text for r in batched] == [r.text for r in alone]
    assert np.allclose([r.confidence for r in batched], [r.confidence for r in alone], atol=1e-3)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_detector_runs_on_one_request_and_the_recognizer_on_streams(backend) -> None:
    engine = get_engine(backend=backend, precision="fp32", threads=2, rec_streams=2)
    assert engine._sessions["det"]._lanes._streams == 0
    assert engine._sessions["rec"]._lanes._streams == 2
    streamed = get_engine(backend=backend, precision="fp32", threads=2, rec_streams=2, det_streams=2)
    assert streamed._sessions["det"]._lanes._streams == 2


def test_detector_keeps_no_shape_cache_on_openvino() -> None:
    engine = get_engine(backend="openvino", precision="fp32")
    assert engine._sessions["det"].compile_config["CPU_RUNTIME_CACHE_CAPACITY"] == 0
    assert engine._sessions["rec"].compile_config["CPU_RUNTIME_CACHE_CAPACITY"] == 64  # bounded by default
    small = get_engine(backend="openvino", precision="fp32", ov_runtime_cache=0)
    assert small._sessions["rec"].compile_config["CPU_RUNTIME_CACHE_CAPACITY"] == 0
    unbounded = get_engine(backend="openvino", precision="fp32", ov_runtime_cache=-1)
    assert "CPU_RUNTIME_CACHE_CAPACITY" not in unbounded._sessions["rec"].compile_config  # OpenVINO's default


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_best_class_output_is_the_full_outputs_best_class(backend: str) -> None:
    """The recognizer answers each step's best class and score (a TopK appended at load): exactly the argmax and
    max of the model's own 18,710-class output, so no reading changes."""
    engine = get_engine(backend=backend, precision="fp32")
    full = load(backend, engine.bundle.path("rec"), SessionOptions("cpu", 1, "f32"))
    crops = engine.lines(rendered.page())
    assert len(crops) >= 3
    for crop in crops:
        blob, _ = recognize.preprocess(crop.image, engine.rec_params)
        probs = full.run({full.inputs[0]: blob[None]})[0][0]
        best = engine._sessions["rec"].run({full.inputs[0]: blob[None]})[0][0]
        assert best.shape == (probs.shape[0], 2)
        assert np.array_equal(best[:, 1].astype(np.int64), probs.argmax(axis=1))
        assert np.allclose(best[:, 0], probs.max(axis=1), atol=1e-6)
