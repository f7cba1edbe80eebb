"""The Node.js client (clients/node) against a live server: `node --test` driven from pytest."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest

from edge_runtime.document.export.text import to_text
from edge_runtime.document.layout import confirm_running
from edge_runtime.document.reader import read_document
from edge_runtime.messages import page_json
from tests.clients.render import line_png
from tests.conftest import REPO
from tests.edge_runtime.document.pdfs import Picture, Text, make_pdf, scan
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
    fixture["document"] = _document_fixture(engine, tmp_path)
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
    assert "# pass 13" in result.stdout and "# fail 0" in result.stdout, result.stdout
    for written in (fixture["document"]["pdf_out"], fixture["document"]["pdf_cli_out"]):
        pdf = pdfium.PdfDocument(written)  # the searchable PDFs the Node client wrote, chunk by chunk
        try:
            assert [pdf[i].get_textpage().get_text_range().split() for i in range(len(pdf))] == DOCUMENT_WORDS
        finally:
            pdf.close()


DOCUMENT = [
    [Text("Harbour traffic rose in March", 72, 700, 12), Text("and fell again in April", 72, 684, 12)],
    [Text("Berths were full all summer", 72, 700, 12)],
    [Text("Third page closes the report", 72, 700, 12)],
]
DOCUMENT_WORDS = [[w for item in page for w in item.text.split()] for page in DOCUMENT]


def _document_fixture(engine, tmp_path: Path) -> dict:
    """The documents the Node tests send, with what the in-process reader makes of them."""
    data = make_pdf(DOCUMENT)
    (tmp_path / "report.pdf").write_bytes(data)
    pages = list(read_document(data, engine))
    merged = pikepdf.open(io.BytesIO(make_pdf(DOCUMENT[:1])))  # the middle page over the pixel limit
    merged.pages.extend(pikepdf.open(io.BytesIO(make_pdf(DOCUMENT[1:2], media_box=(200 * 72, 200 * 72)))).pages)
    merged.pages.extend(pikepdf.open(io.BytesIO(make_pdf(DOCUMENT[2:]))).pages)
    merged.save(tmp_path / "huge.pdf")
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    scans = [[Picture(scan(f"PAGE {n} OF MANY", size=(900, 200)), 72, 500, 450, 100)] for n in range(8)]
    (tmp_path / "scans.pdf").write_bytes(make_pdf(scans))
    return {
        "path": str(tmp_path / "report.pdf"),
        "pages": [{k: v for k, v in page_json(page).items() if k != "timings"} for page in pages],
        "text": to_text(confirm_running(pages)),
        "words": DOCUMENT_WORDS,
        "huge": str(tmp_path / "huge.pdf"),
        "corrupt": str(tmp_path / "corrupt.pdf"),
        "scans": str(tmp_path / "scans.pdf"),
        "pdf_out": str(tmp_path / "node.pdf"),
        "pdf_cli_out": str(tmp_path / "out" / "node-cli.pdf"),
    }


def test_node_cli_hints_at_what_to_check_when_no_call_gets_through(node, tmp_path):
    """A call that never reached a server (nothing serves the port) ends in one error line with the hint the
    Python ocr-client gives, before its reason: the TLS flags to check with --ca, else that TLS may be needed."""
    from tests.services import free_port

    target = f"127.0.0.1:{free_port()}"
    cli = [node, str(NODE_DIR / "bin" / "ocr-client.js"), "--target", target, "--timeout-ms", "5000"]
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")  # never used: nothing answers
    for flags, words in [((), "pass --ca"), (("--ca", str(ca)), "TLS handshake failed")]:
        done = subprocess.run([*cli, *flags, "info"], capture_output=True, text=True, timeout=60)
        (line,) = done.stderr.strip().splitlines()
        assert done.returncode == 1 and line.endswith("[UNAVAILABLE]"), done.stderr
        assert "hint: no server answered" in line and words in line, line
