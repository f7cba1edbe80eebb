"""The Node.js client (clients/node) against a live server: `node --test` driven from pytest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from tests.clients.render import line_png
from tests.conftest import REPO
from tests.server.images import scene_png

NODE_DIR = REPO / "clients" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail("clients/node/node_modules is missing: run `bash scripts/setup.sh` (npm ci in clients/node)")
    return node


def test_node_client_against_live_server(node, served, engine, tmp_path):
    scene = tmp_path / "scene.png"
    scene.write_bytes(scene_png())
    word = tmp_path / "word.png"
    word.write_bytes(line_png("HELLO"))
    gray = cv2.cvtColor(cv2.imdecode(np.frombuffer(scene_png(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    (tmp_path / "gray.raw").write_bytes(gray.tobytes())
    expected = engine.recognize(scene_png())
    fixture = {
        "target": served.target,
        "bundle_id": engine.provenance.bundle,
        "scene": str(scene),
        "scene_lines": [line.text for line in expected.lines],
        "scene_size": [expected.width, expected.height],
        "word": str(word),
        "word_text": engine.recognize(line_png("HELLO"), skip_detection=True).text,
        "gray": {
            "path": str(tmp_path / "gray.raw"),
            "width": gray.shape[1],
            "height": gray.shape[0],
            "lines": [line.text for line in engine.recognize(gray).lines],
        },
    }
    (tmp_path / "fixture.json").write_text(json.dumps(fixture))
    env = {**os.environ, "OCR_NODE_FIXTURE": str(tmp_path / "fixture.json")}
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "test/"],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 8" in result.stdout and "# fail 0" in result.stdout, result.stdout
