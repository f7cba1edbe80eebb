"""The dynamic batcher (grpc-free) on the real models: merged batches answer exactly as unbatched runs."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from edge_runtime import detect, recognize
from edge_runtime.pipeline import OcrEngine, Run
from server.batcher import Batcher
from tests.conftest import get_engine
from tests.server.images import receipt_jpg, scene_png, word_pngs


def first_output(engine: OcrEngine, stage: str, sizes: list[int] | None = None):
    """A batcher's ``submit``: one run of stacked rows on the engine's lanes, its future the first output."""

    def submit(rows: np.ndarray) -> Future:
        if sizes is not None:
            sizes.append(len(rows))
        first: Future = Future()
        started = engine.submit(Run(stage, rows))
        started.add_done_callback(lambda done: first.set_result(done.result()[0]))
        return first

    return submit


@pytest.fixture(scope="module")
def prepared(engine):
    crops = [cv2.imdecode(np.frombuffer(w, np.uint8), cv2.IMREAD_COLOR) for w in word_pngs(14)]
    crops += [np.hstack([crops[0]] * 5), np.hstack([crops[1]] * 5)]  # two long lines: a wider bucket
    return [recognize.preprocess(c, engine.rec_params) for c in crops]


def run(coro):
    return asyncio.run(coro)


def _decode(engine, out: np.ndarray, item) -> recognize.Reading:
    return recognize.ctc_decode_best(out, engine.characters, item[1] / item[0].shape[2])


def test_merged_batches_equal_single_runs(engine, prepared):
    alone = [_decode(engine, engine.answer([Run("rec", p[0][None])])[0][0], p) for p in prepared]
    sizes: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(first_output(engine, "rec", sizes), pool, max_size=4, max_delay_s=0.05)

        async def main():
            groups = [prepared[k::8] for k in range(8)]  # 8 callers, 2 crops each, one run per crop width
            return await asyncio.gather(*(asyncio.gather(*(batcher.run(p[0][None]) for p in g)) for g in groups))

        results = run(main())
    for k, outputs in enumerate(results):
        assert len(outputs) == 2
        for out, item, expected in zip(outputs, prepared[k::8], alone[k::8], strict=True):
            reading = _decode(engine, out[0], item)
            assert reading.text == expected.text
            assert reading.confidence == pytest.approx(expected.confidence, abs=1e-5)
    assert max(sizes) <= 4 and sum(sizes) == len(prepared)
    assert batcher.stats.mixed >= 1 and batcher.stats.largest > 1
    assert len({int(p[0].shape[2]) for p in prepared}) > 1  # several shapes, never two in one run (np.stack)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_detector_inputs_of_one_shape_share_a_batch_with_identical_outputs(backend):
    """Concurrent calls' detector inputs of the same padded shape run as one batch; every output is the
    one its input gets alone, and the boxes found in it are the same."""
    engine = get_engine(backend=backend, precision="fp32")
    images = [cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) for data in (scene_png(), receipt_jpg())]
    images.append(cv2.flip(images[0], 1))  # same shape as the scene: shares its bucket
    blobs = [detect.preprocess(image, engine.det_params) for image in images]
    assert blobs[0].shape == blobs[2].shape != blobs[1].shape
    alone = [engine.answer([Run("det", blob)])[0] for blob in blobs]
    sizes: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(first_output(engine, "det", sizes), pool, max_size=8, max_delay_s=0.05)

        async def main():
            return await asyncio.gather(*(batcher.run(blob) for blob in blobs))

        together = run(main())
    assert sorted(sizes) == [1, 2] and batcher.stats.mixed == 1
    for image, out, expected in zip(images, together, alone, strict=True):
        assert out.shape == expected.shape
        assert np.allclose(out, expected, atol=1e-5)
        found = detect.postprocess(out[0, 0], image.shape[0], image.shape[1], engine.det_params)
        wanted = detect.postprocess(expected[0, 0], image.shape[0], image.shape[1], engine.det_params)
        assert len(found) == len(wanted) > 0
        assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(found, wanted, strict=True))


def test_lone_crop_waits_at_most_the_delay(engine, prepared):
    blob = prepared[0][0][None]
    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(first_output(engine, "rec"), pool, max_size=8, max_delay_s=0.002)
        run_alone = time.perf_counter()
        engine.answer([Run("rec", blob)])
        run_alone = time.perf_counter() - run_alone

        async def main():
            t0 = time.perf_counter()
            await batcher.run(blob)
            return time.perf_counter() - t0

        waited = run(main())
    assert waited < run_alone + 0.5  # the 2 ms window plus scheduling noise on a busy 2-core machine
    assert batcher.stats.batches == 1


def test_cancelled_callers_are_dropped_before_the_run(engine, prepared):
    gate = threading.Event()
    sizes: list[int] = []

    with ThreadPoolExecutor(1) as pool:
        pool.submit(gate.wait, 30)  # the dispatcher is busy
        batcher = Batcher(first_output(engine, "rec", sizes), pool, max_size=8, max_delay_s=0.001)

        async def main():
            same = [p for p in prepared if p[0].shape[2] == prepared[0][0].shape[2]][:2]
            gone = asyncio.ensure_future(batcher.run(same[0][0][None]))
            kept = asyncio.ensure_future(batcher.run(same[1][0][None]))
            await asyncio.sleep(0.05)
            gone.cancel()
            gate.set()
            return await kept

        out = run(main())
    assert len(out) == 1 and sizes == [1] and batcher.stats.dropped == 1


def test_a_failed_run_fails_every_caller_of_its_batch(engine, prepared):
    def broken(rows: np.ndarray) -> Future:
        failed: Future = Future()
        failed.set_exception(RuntimeError("model failed"))
        return failed

    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(broken, pool, max_size=8, max_delay_s=0.01)

        async def main():
            blob = prepared[0][0][None]
            return await asyncio.gather(batcher.run(blob), batcher.run(blob), return_exceptions=True)

        results = run(main())
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]


def test_domain_layers_do_not_import_grpc():
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys, server.batcher, server.plane, server.config, edge_runtime.pipeline; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'google')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "grpc" not in out.stdout, out.stdout
