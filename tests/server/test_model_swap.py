"""Models that change without a restart (server.models_watch): a gate record published into the model folder is
loaded beside the serving models, checked and swapped in while calls keep coming, none failing, and the answers
switch at one point in time; a broken change is refused (the old models keep serving); a rollback is a change
back. One server process on a copy of the default bundle's FP32 files (``OCR_MODEL_DIR``)."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clients.ocr_client import OcrCallError, OcrClient
from edge_runtime.artifacts import resolve_stage
from models.bundle import default_bundle_id, load_bundle, model_dir
from tests.server.images import scene_png
from tests.server.test_lifecycle import start_server

BACKEND = "openvino"


@dataclass
class Answer:
    started: float
    ended: float
    precision: str  # "det=..,rec=.." of the models that answered
    text: str


class Caller:
    """Clients calling Recognize in a loop from several threads, keeping every answer and every failure."""

    def __init__(self, port: int, threads: int = 3) -> None:
        self.answers: list[Answer] = []
        self.failures: list[OcrCallError] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client = OcrClient(f"127.0.0.1:{port}", timeout=60)
        self._image = scene_png()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                result = self._client.recognize(self._image)
            except OcrCallError as exc:
                with self._lock:
                    self.failures.append(exc)
                continue
            precision = ",".join(f"{k}={v}" for k, v in sorted(result.provenance.stage_precision.items()))
            text = " ".join(line.text for line in result.lines)
            with self._lock:
                self.answers.append(Answer(started, time.monotonic(), precision, text))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
        self._client.close()


def _wait_change(client: OcrClient, changes: int, timeout: float = 180) -> Any:
    """The server's ModelStatus once it has made or refused ``changes`` changes in all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        models = client.server_info().message.models
        if models.swaps + models.refused >= changes:
            return models
        time.sleep(0.3)
    pytest.fail(f"the server did not make or refuse change {changes} within {timeout} s")


def _publish(source: Path, target: Path) -> None:
    """As python -m quantize publishes: a full copy beside, then one rename."""
    staging = target.with_name(f".{target.name}.building")
    shutil.copytree(source, staging)
    staging.rename(target)


@pytest.fixture()
def fp32_bundle(tmp_path: Path) -> Path:
    return fp32_copy(tmp_path)


def fp32_copy(tmp_path: Path) -> Path:
    """The default bundle's files without any gate record: precision auto serves FP32 from it."""
    source = model_dir() / default_bundle_id()
    if not (source / "int8" / BACKEND / "quantization.json").is_file():
        pytest.fail(f"no gate record in {source}/int8/{BACKEND}: run python -m quantize (scripts/test.sh does)")
    target = tmp_path / "models" / default_bundle_id()
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)
    return target


def test_a_published_gate_record_is_swapped_in_under_load_and_rolled_back(fp32_bundle: Path) -> None:
    source = model_dir() / default_bundle_id() / "int8" / BACKEND
    models_dir = str(fp32_bundle.parent)
    process, port, log = start_server(
        "--backend", BACKEND, "--model-poll-s", "0.5", "--no-optimize", env={"OCR_MODEL_DIR": models_dir}
    )
    try:
        with OcrClient(f"127.0.0.1:{port}", timeout=60) as client:
            client.wait_until_serving(120)
            assert client.server_info().message.models.generation == 1
            caller = Caller(port)
            while len(caller.answers) < 6:
                time.sleep(0.1)
            # 1. the gate's record and artifacts appear: loaded, checked, swapped in; no call fails
            _publish(source, fp32_bundle / "int8" / BACKEND)
            models = _wait_change(client, 1)
            assert models.generation == 2 and not models.refused, models
            count = len(caller.answers)
            while len(caller.answers) < count + 6:
                time.sleep(0.1)
            # 2. a broken change (an artifact that no longer matches its sha256) is refused
            artifact = next(p for p in (fp32_bundle / "int8" / BACKEND).iterdir() if p.suffix == ".bin")
            intact = artifact.read_bytes()
            artifact.write_bytes(intact[: len(intact) // 2])
            models = _wait_change(client, 2)
            assert models.generation == 2 and models.refused == 1, models
            assert models.last_error_reason == "MODEL_FILES_INVALID", models
            assert client.recognize(scene_png()).lines  # the old models keep serving
            # 3. rollback: the record goes away, FP32 serves again
            shutil.rmtree(fp32_bundle / "int8")
            process.send_signal(signal.SIGHUP)  # look now
            models = _wait_change(client, 3)
            assert models.generation == 3 and models.swaps == 2, models
            count = len(caller.answers)
            while len(caller.answers) < count + 6:
                time.sleep(0.1)
            caller.stop()
    finally:
        process.terminate()
        process.wait(60)
    assert not caller.failures, caller.failures[:3]
    answers = sorted(caller.answers, key=lambda a: a.started)
    first, last = answers[0].precision, answers[-1].precision
    assert first == last and "det=fp32" in first and "rec=fp32" in first, (first, last)
    # the same precision answers the same text, before the swap and after the rollback
    assert {a.text for a in answers if a.precision == first} == {answers[0].text}
    served = [a.precision for a in answers]
    swapped_to = {p for p in served if p != first}
    bundle = load_bundle(default_bundle_id())
    chosen = ",".join(f"{s}={resolve_stage(bundle, BACKEND, s, 'auto')[1]}" for s in sorted(("det", "cls", "rec")))
    assert swapped_to == ({chosen} - {first}), (swapped_to, chosen)  # what the record chose on this host, only
    if swapped_to:  # where the gate chose another precision: the answers switched at one point in time, twice
        new = [a for a in answers if a.precision in swapped_to]
        # no old answer to a call started after a new answer was given, until the rollback's
        assert not [a for a in answers if a.precision == first and new[0].ended < a.started < new[-1].started]
    assert any("models swapped without a restart (generation 2" in line for line in log), "".join(log)
    assert any("MODEL_FILES_INVALID" in line for line in log), "".join(log)
