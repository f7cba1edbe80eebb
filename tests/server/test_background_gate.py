"""Serve first, optimise in the background (server.optimizer): a server on a bundle with no gate record serves
FP32 at once, runs python -m quantize as a niced child, reports its progress, and swaps in what it publishes
without a restart and without a failed call.

The build here is the real command on a small calibration (two pages, ``--no-gate``: the record says FP32 for
every stage, so the swap changes no answer) to keep the test short; the full build is the same code with more
pages and the gate (what set-up used to wait for)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from clients.ocr_client import OcrClient
from edge_runtime.evaluation import synth
from tests.server.test_lifecycle import start_server
from tests.server.test_model_swap import Caller, fp32_copy

BACKEND = "onnxruntime"  # its quantization takes seconds where OpenVINO's takes a minute: the same path


def test_the_server_serves_fp32_at_once_then_swaps_in_what_its_background_build_publishes(tmp_path: Path) -> None:
    bundle = fp32_copy(tmp_path)
    data = synth.default_dir()
    calib = tmp_path / "calib"
    calib.mkdir()
    for image in sorted((data / "synth_receipts" / "images").iterdir())[:2]:
        shutil.copy2(image, calib / image.name)
    extra = f"--calib {calib} --data-dir {data} --det-pages 2 --rec-crops 16 --no-gate"
    process, port, log = start_server(
        "--backend",
        BACKEND,
        "--model-poll-s",
        "0.5",
        "--optimize",
        "--optimize-args",
        extra,
        # the rendered sets stay where set-up made them: under the copy's folder the server's "is a build there?"
        # check would render them all again first (90 s of CPU beside the serving threads)
        env={"OCR_MODEL_DIR": str(bundle.parent), "OCR_SYNTH_DIR": str(data)},
    )
    states: list[tuple[str, float]] = []
    try:
        with OcrClient(f"127.0.0.1:{port}", timeout=60) as client:
            client.wait_until_serving(120)
            info = client.server_info()
            served = {p.stage: p.precision for p in info.stage_precisions}
            assert served == {"det": "fp32", "cls": "fp32", "rec": "fp32"}
            caller = Caller(port, threads=1)  # one: the other core is the niced build's (two starve it on 2 cores)
            deadline = time.monotonic() + 480
            while time.monotonic() < deadline:
                models = client.server_info().message.models
                states.append((models.optimize.state, models.optimize.progress))
                if models.optimize.state == "failed" or (models.optimize.state == "published" and models.swaps >= 1):
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"the background build did not end: {states[-5:]}")
            caller.stop()
    finally:
        process.terminate()
        process.wait(60)
    assert models.optimize.state == "published", (models.optimize, "".join(log[-30:]))
    assert models.generation == 2 and models.optimize.progress == 1.0, models
    assert models.optimize.backend == BACKEND
    assert any(s == "building" for s, _ in states), states
    assert (bundle / "int8" / BACKEND / "quantization.json").is_file()
    assert not caller.failures, caller.failures[:3]
    assert caller.answers and len({a.text for a in caller.answers}) == 1  # the record serves FP32: same answers
    text = "".join(log)
    assert "building and gating INT8/BF16 candidates" in text and "background INT8 build done" in text, text
    assert "models swapped without a restart (generation 2" in text, text
    record = json.loads((bundle / "int8" / BACKEND / "quantization.json").read_text())
    assert record["calibration"]["images"] == 2 and record["gate"]["timing_threads"] == 1  # the child got its args
