"""One JSON shape: `python -m edge_runtime recognize --json`, `ocr-client recognize --json` and the Node client's
`recognize --json` print the same object for the same image (timings aside, which differ run to run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from clients.ocr_client.cli import main as client_main
from edge_runtime.cli import main as edge_main
from tests.clients.render import page_png
from tests.conftest import REPO

NODE_CLI = REPO / "clients" / "node" / "bin" / "ocr-client.js"


def _rows(out: str) -> list[dict]:
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    for row in rows:
        row.pop("timings", None)
    return rows


def test_three_command_lines_print_the_same_json(served, tmp_path, capsys, monkeypatch):
    image = tmp_path / "hello.png"
    image.write_bytes(page_png(("HELLO 2026",)))
    missing = tmp_path / "missing.png"
    for name in [k for k in os.environ if k.startswith("OCR_")]:
        monkeypatch.delenv(name)  # the in-process engine must be configured like the served one (defaults)

    assert edge_main(["recognize", "--json", str(image)]) == 0
    in_process = _rows(capsys.readouterr().out)
    assert client_main(["--target", served.target, "recognize", "--json", str(image)]) == 0
    python_client = _rows(capsys.readouterr().out)
    assert in_process[0]["text"] == "HELLO 2026" and "error" not in in_process[0]
    assert python_client == in_process

    node = shutil.which("node")
    if node is None or not (REPO / "clients" / "node" / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("node or clients/node/node_modules is missing (bash scripts/setup.sh)")
    result = subprocess.run(
        [node, str(NODE_CLI), "--target", served.target, "recognize", "--json", str(image)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert _rows(result.stdout) == in_process

    # a file that cannot be read: the same reason everywhere, one line on stderr
    assert edge_main(["recognize", "--json", str(missing)]) == 1
    captured = capsys.readouterr()
    assert _rows(captured.out)[0]["error"]["reason"] == "IMAGE_UNREADABLE"
    assert captured.err.count("\n") == 1 and "[IMAGE_UNREADABLE]" in captured.err
    assert client_main(["--target", served.target, "recognize", "--json", str(missing)]) == 1
    captured = capsys.readouterr()
    assert _rows(captured.out)[0]["error"]["reason"] == "IMAGE_UNREADABLE"
    assert captured.err.count("\n") == 1 and "[IMAGE_UNREADABLE]" in captured.err
    result = subprocess.run(
        [node, str(NODE_CLI), "--target", served.target, "recognize", "--json", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and _rows(result.stdout)[0]["error"]["reason"] == "IMAGE_UNREADABLE"
    assert result.stderr.count("\n") == 1 and "[IMAGE_UNREADABLE]" in result.stderr
