"""The dynamic batcher (grpc-free) on the real recognizer: merged batches answer exactly as unbatched runs."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from edge_runtime import recognize
from server.batcher import RecognitionBatcher
from tests.server.images import word_pngs


@pytest.fixture(scope="module")
def prepared(engine):
    crops = [cv2.imdecode(np.frombuffer(w, np.uint8), cv2.IMREAD_COLOR) for w in word_pngs(14)]
    crops += [np.hstack([crops[0]] * 5), np.hstack([crops[1]] * 5)]  # two long lines: a wider bucket
    return [recognize.preprocess(c, engine.rec_params) for c in crops]


def run(coro):
    return asyncio.run(coro)


def test_merged_batches_equal_single_runs(engine, prepared):
    alone = [engine.read_bucket([p])[0] for p in prepared]
    sizes = []

    widths_per_run = []

    def recorded(items):
        sizes.append(len(items))
        widths_per_run.append({int(p[0].shape[2]) for p in items})
        return engine.read_bucket(items)

    with ThreadPoolExecutor(1) as pool:
        batcher = RecognitionBatcher(recorded, pool, max_size=4, max_delay_s=0.05)

        async def main():
            groups = [prepared[k::8] for k in range(8)]  # 8 callers, 2 crops each
            return await asyncio.gather(*(batcher.read(g) for g in groups))

        results = run(main())
    for k, readings in enumerate(results):
        assert len(readings) == 2
        for reading, expected in zip(readings, alone[k::8]):
            assert reading.text == expected.text
            assert reading.confidence == pytest.approx(expected.confidence, abs=1e-5)
    assert max(sizes) <= 4 and sum(sizes) == len(prepared)
    assert batcher.stats.mixed >= 1 and batcher.stats.largest > 1
    assert len({int(p[0].shape[2]) for p in prepared}) > 1
    assert all(len(w) == 1 for w in widths_per_run)  # never two widths in one run


def test_lone_crop_waits_at_most_the_delay(engine, prepared):
    with ThreadPoolExecutor(1) as pool:
        batcher = RecognitionBatcher(engine.read_bucket, pool, max_size=8, max_delay_s=0.002)
        run_alone = time.perf_counter()
        engine.read_bucket([prepared[0]])
        run_alone = time.perf_counter() - run_alone

        async def main():
            t0 = time.perf_counter()
            await batcher.read([prepared[0]])
            return time.perf_counter() - t0

        waited = run(main())
    assert waited < run_alone + 0.5  # the 2 ms window plus scheduling noise on a busy 2-core machine
    assert batcher.stats.batches == 1


def test_cancelled_callers_are_dropped_before_the_run(engine, prepared):
    import threading

    gate = threading.Event()
    ran = []

    def recorded(items):
        ran.append(len(items))
        return engine.read_bucket(items)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(gate.wait, 30)  # the model thread is busy
        batcher = RecognitionBatcher(recorded, pool, max_size=8, max_delay_s=0.001)

        async def main():
            same = [p for p in prepared if p[0].shape[2] == prepared[0][0].shape[2]][:2]
            gone = asyncio.ensure_future(batcher.read(same[:1]))
            kept = asyncio.ensure_future(batcher.read(same[1:2]))
            await asyncio.sleep(0.05)
            gone.cancel()
            gate.set()
            return await kept

        readings = run(main())
    assert len(readings) == 1 and ran == [1] and batcher.stats.dropped == 1


def test_domain_layers_do_not_import_grpc():
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import sys, server.batcher, server.plane, server.config, edge_runtime.pipeline; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'google')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "grpc" not in out.stdout, out.stdout
