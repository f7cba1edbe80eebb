"""The Python CLI and the Node.js client and CLI over mutual TLS with a token, against a live server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from server.config import ServerConfig
from server.embedded import ServerThread
from tests.clients.render import line_png
from tests.conftest import REPO, get_engine
from tests.server.certs import make_pki

NODE_DIR = REPO / "clients" / "node"
TOKEN = "client-test-token"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls(pki, tmp_path_factory):
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tokens": [
                    {
                        "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                        "principal": "tester",
                        "scopes": ["ocr.recognize", "ocr.stream"],
                    }
                ]
            }
        )
    )
    server = ServerThread(
        get_engine,
        ServerConfig(
            host="127.0.0.1",
            port=0,
            tls_cert=str(pki.server_cert),
            tls_key=str(pki.server_key),
            tls_client_ca=str(pki.ca),
            tokens_file=str(tokens),
        ),
    )
    yield server
    server.stop()


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clients.ocr_client", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_python_cli_over_mutual_tls_with_a_token(mtls, pki, tmp_path):
    word = tmp_path / "word.png"
    word.write_bytes(line_png("HELLO"))
    tls = ["--target", mtls.target, "--ca", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    result = _cli(*tls, "recognize", "--skip-detection", str(word), env={"OCR_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == get_engine().recognize(line_png("HELLO"), skip_detection=True).text
    result = _cli(*tls, "--token", "wrong", "info")
    assert result.returncode == 1 and result.stderr.strip().endswith("[TOKEN_INVALID]"), result.stderr
    result = _cli("--target", mtls.target, "--ca", str(pki.ca), "info", env={"OCR_TOKEN": TOKEN})  # no cert
    assert result.returncode == 1 and result.stderr.strip().endswith("[UNAVAILABLE]"), result.stderr
    assert "Traceback" not in result.stderr


def test_node_client_over_mutual_tls(mtls, pki, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail("clients/node/node_modules is missing: run `bash scripts/setup.sh` (npm ci in clients/node)")
    word = tmp_path / "word.png"
    word.write_bytes(line_png("HELLO"))
    fixture = {
        "target": mtls.target,
        "ca": str(pki.ca),
        "cert": str(pki.client_cert),
        "key": str(pki.client_key),
        "other_cert": str(pki.other_client_cert),
        "other_key": str(pki.other_client_key),
        "token": TOKEN,
        "word": str(word),
        "word_text": get_engine().recognize(line_png("HELLO"), skip_detection=True).text,
    }
    (tmp_path / "fixture.json").write_text(json.dumps(fixture))
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "test-security/"],
        cwd=NODE_DIR,
        env={**os.environ, "OCR_NODE_TLS_FIXTURE": str(tmp_path / "fixture.json")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 4" in result.stdout and "# fail 0" in result.stdout, result.stdout
