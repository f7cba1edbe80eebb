"""`python -m server` as a process: it comes up SERVING, and SIGTERM drains (in-flight calls finish, exit 0)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest

from clients.ocr_client import OcrCallError, OcrClient
from edge_runtime.evaluation.datasets import load_set
from tests.conftest import REPO, data_root
from tests.server.images import scene_png

# Four whole receipts: about a second of work even on an idle machine, so the call is surely in flight.


def start_server(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OCR_LOG_LEVEL": "INFO", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.search(r"ocr server listening on port (\d+)", line)
        if match:
            log: list[str] = []
            threading.Thread(target=log.extend, args=(process.stdout,), daemon=True).start()  # keep it drained
            return process, int(match.group(1)), log
    process.kill()
    pytest.fail(f"server did not start: {process.stdout.read()}")


def test_sigterm_drains_in_flight_calls():
    process, port, log = start_server("--grace-s", "60")
    try:
        with OcrClient(f"127.0.0.1:{port}", timeout=120) as client:
            client.wait_until_serving(120)
            outcome: dict = {}
            # read before the call starts, so that the pause below covers only the call reaching the server
            receipts = [s.image for s in load_set("synth_receipts", data_root(), limit=4)]

            def long_call() -> None:
                try:
                    outcome["responses"] = client.batch_recognize(receipts)
                except OcrCallError as exc:
                    outcome["error"] = exc

            thread = threading.Thread(target=long_call)
            thread.start()
            time.sleep(0.3)  # the call has reached the server and is being computed
            process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            with pytest.raises(OcrCallError) as refused:
                client.recognize(scene_png(), timeout=10)
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE
            thread.join(120)
            assert "error" not in outcome, outcome.get("error")
            responses = outcome["responses"]
            assert len(responses) == 4 and all(r.lines and r.error is None for r in responses)
        assert process.wait(60) == 0
        time.sleep(0.2)
        assert any("draining: new calls refused, 1 in flight" in line for line in log), "".join(log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_configuration_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "server", "--port", "70000"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 2 and "INVALID_CONFIGURATION" in result.stderr
