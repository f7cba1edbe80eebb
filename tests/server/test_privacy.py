"""No image bytes are written anywhere: a `python -m server` process is sent known images (good, bad, raw, batch,
stream), then stopped, and every file under its working dir, tmp dir, log dir and audit dir is scanned for any
64-byte window of those images."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from clients.ocr_client import OcrCallError, OcrClient
from tests.clients.render import line_png, page_png
from tests.conftest import REPO
from tests.server.images import receipt_jpg, scene_png

WINDOW = 64
CHUNK = WINDOW // 2  # any 64-byte window of an image contains a whole 32-byte chunk at an offset k * 32


def _chunks(images: list[bytes]) -> dict[bytes, list[tuple[int, int]]]:
    index: dict[bytes, list[tuple[int, int]]] = {}
    for k, image in enumerate(images):
        for j in range(0, len(image) - CHUNK + 1, CHUNK):
            index.setdefault(image[j : j + CHUNK], []).append((k, j))
    return index


def leaks(data: bytes, images: list[bytes], index) -> list[tuple[int, int]]:
    """(image, offset) of each window of >= 64 bytes shared by ``data`` and an image; windows of under 8 distinct
    byte values (a run of white pixels) are not evidence of anything and are skipped."""
    found = []
    for i in range(len(data) - CHUNK + 1):
        for k, j in index.get(data[i : i + CHUNK], ()):
            image = images[k]
            left = 0
            while left < min(i, j) and data[i - left - 1] == image[j - left - 1]:
                left += 1
            right = CHUNK
            while i + right < len(data) and j + right < len(image) and data[i + right] == image[j + right]:
                right += 1
            shared = data[i - left : i + right]
            if len(shared) >= WINDOW and len(set(shared)) >= 8:
                found.append((k, j - left))
    return found


def test_leak_scanner_finds_a_planted_window():
    images = [receipt_jpg()]
    index = _chunks(images)
    planted = b"log line: " + images[0][1001 : 1001 + WINDOW] + b"\n"
    assert leaks(planted, images, index) and not leaks(images[0][1001 : 1001 + WINDOW - 1], images, index)


def test_no_image_bytes_are_written_anywhere(tmp_path):
    dirs = {name: tmp_path / name for name in ("work", "tmp", "log", "audit")}
    for d in dirs.values():
        d.mkdir()
    token = "privacy-token"
    tokens = dirs["work"].parent / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tokens": [
                    {
                        "sha256": hashlib.sha256(token.encode()).hexdigest(),
                        "principal": "p",
                        "scopes": ["ocr.recognize", "ocr.stream"],
                    }
                ]
            }
        )
    )
    gray = cv2.cvtColor(cv2.imdecode(np.frombuffer(scene_png(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    receipt, scene, page, word = receipt_jpg(), scene_png(), page_png(), line_png("PRIVATE 4111")
    bad = scene[: len(scene) // 2]  # truncated: fails in the decoder, with its error path and logging
    sent = [receipt, scene, page, word, bad, gray.tobytes()]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TMPDIR": str(dirs["tmp"]),
        "TEMP": str(dirs["tmp"]),
        "OCR_LOG_LEVEL": "DEBUG",
        "PYTHONFAULTHANDLER": "1",
    }
    log_path = dirs["log"] / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--tokens-file",
                str(tokens),
                "--audit-log",
                str(dirs["audit"] / "audit.log"),
                "--audit-text",
                "--grace-s",
                "10",
            ],
            cwd=dirs["work"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        port = None
        deadline = time.monotonic() + 120
        while port is None and time.monotonic() < deadline and process.poll() is None:
            match = re.search(r"ocr server listening on port (\d+)", log_path.read_text())
            port = int(match.group(1)) if match else None
            time.sleep(0.1)
        assert port, log_path.read_text()
        with OcrClient(f"127.0.0.1:{port}", token=token, timeout=120) as client:
            client.wait_until_serving(120)
            assert client.recognize(receipt).lines
            assert client.recognize(gray).lines
            results = client.batch_recognize([scene, bad, page])
            assert results[0].lines and results[1].error is not None and results[2].lines
            assert client.recognize(word, skip_detection=True).lines
            with pytest.raises(OcrCallError):
                client.recognize(bad)
            frames = list(client.stream_recognize([scene, page, bad]))
            assert frames
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    audit = [json.loads(line) for line in (dirs["audit"] / "audit.log").read_text().splitlines()]
    assert {hashlib.sha256(receipt).hexdigest()} <= {i["sha256"] for r in audit for i in r["images"]}
    assert all("text" in r for r in audit) and any(r["text"] for r in audit)  # --audit-text: lines' text only
    index = _chunks(sent)
    scanned = 0
    for d in dirs.values():
        for path in d.rglob("*"):
            if path.is_file():
                scanned += 1
                found = leaks(path.read_bytes(), sent, index)
                assert not found, f"{path} holds image bytes (image, offset): {found[:5]}"
    assert scanned >= 2  # at least the server log and the audit log were looked at
