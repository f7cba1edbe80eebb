"""Cross-call batching of every stage, as on a GPU, switched on for the CPU by configuration, on both backends:
concurrent calls' detector inputs of one padded shape share a run, and every answer equals the in-process
engine's answer to that call alone."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from clients.ocr_client import OcrClient
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine
from tests.server.images import receipt_jpg, scene_png, word_pngs
from tests.server.test_service import assert_same


def _flipped(data: bytes) -> bytes:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.imencode(".png", cv2.flip(image, 1))[1].tobytes()


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_every_stage_batched_across_calls_answers_as_alone(backend):
    engine = get_engine(backend=backend, precision="fp32")
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        max_concurrent_rpcs=32,
        batch_stages="det,cls,rec",
        batch_max_delay_ms=500.0,
        memory_budget_mb=0,
    )  # a long window and every call admitted at once (no memory budget), so that the calls surely meet
    server = ServerThread(lambda: engine, config)
    try:
        plane = server.plane
        assert set(plane.batchers) == {"det", "cls", "rec"}
        jobs = [
            (scene_png(), False),
            (_flipped(scene_png()), False),
            (scene_png(), False),
            (receipt_jpg(), False),
            *((w, True) for w in word_pngs(4)),
        ]
        expected = [engine.recognize(data, skip_detection=skip) for data, skip in jobs]
        answers: list = [None] * len(jobs)
        start = threading.Barrier(len(jobs))
        with OcrClient(server.target, timeout=300) as client:

            def call(k: int) -> None:
                start.wait()
                answers[k] = client.recognize(jobs[k][0], skip_detection=jobs[k][1])

            threads = [threading.Thread(target=call, args=(k,)) for k in range(len(jobs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
        for got, want in zip(answers, expected, strict=True):
            assert got is not None
            assert_same(got, want)
        det = plane.batchers["det"].stats
        assert det.mixed >= 1  # scene-sized inputs of different calls shared a detector run
        assert plane.batchers["rec"].stats.mixed >= 1 and plane.batchers["cls"].stats.mixed >= 1
    finally:
        server.stop()


def test_batch_stages_default_by_device_and_refuse_unknown_names():
    from edge_runtime.errors import ConfigurationError

    assert ServerConfig().batched_stages("cpu") == ()
    assert ServerConfig().batched_stages("cuda") == ("det", "cls", "rec")
    assert ServerConfig(batch_stages="none").batched_stages("cuda") == ()
    assert ServerConfig(batch_stages="det, rec").batched_stages("cpu") == ("det", "rec")
    with pytest.raises(ConfigurationError):
        ServerConfig(batch_stages="det,ocr").batched_stages("cpu")
