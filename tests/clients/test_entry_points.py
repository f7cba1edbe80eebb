"""Every command line of the project: `--help` exits 0 and names its commands (or its main flags); failures are
one line on stderr with a stable reason and a non-zero exit, never a traceback."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

PY = sys.executable
NODE_CLI = str(REPO / "clients" / "node" / "bin" / "ocr-client.js")
OCR_CLIENT = shutil.which("ocr-client", path=str(REPO / ".venv" / "bin"))

HELP = {  # command -> words its --help must show (subcommands where it has them)
    "edge_runtime": ([PY, "-m", "edge_runtime"], ["recognize", "stream"]),
    "edge_runtime recognize": ([PY, "-m", "edge_runtime", "recognize"], ["--json", "--draw", "--skip-detection"]),
    "edge_runtime stream": ([PY, "-m", "edge_runtime", "stream"], ["--source", "--server"]),
    "clients.ocr_client": ([PY, "-m", "clients.ocr_client"], ["recognize", "info", "health", "bench"]),
    "clients.ocr_client.codegen": ([PY, "-m", "clients.ocr_client.codegen"], ["--force"]),
    "server": ([PY, "-m", "server"], ["--port", "--backend", "--precision"]),
    "server.healthcheck": ([PY, "-m", "server.healthcheck"], ["--target", "--service"]),
    "models": ([PY, "-m", "models"], ["fetch", "list"]),
    "quantize": ([PY, "-m", "quantize"], ["--backend", "--bundle"]),
    "fleet": ([PY, "-m", "fleet"], ["query", "devices", "sightings", "watch", "stats", "delete", "agent"]),
    "fleet query": (
        [PY, "-m", "fleet", "query"],
        [
            "--text",
            "--match",
            "--since",
            "--until",
            "--device",
            "--stream",
            "--type",
            "--min-confidence",
            "--limit",
            "--newest-first",
            "--format",
            "--target",
            "--token",
        ],
    ),
    "fleet devices": ([PY, "-m", "fleet", "devices"], ["--limit", "--format"]),
    "fleet sightings": ([PY, "-m", "fleet", "sightings"], ["--window", "--min-streams", "--text", "--since"]),
    "fleet watch": ([PY, "-m", "fleet", "watch"], ["--cursor", "--max-events", "--for", "--text"]),
    "fleet stats": ([PY, "-m", "fleet", "stats"], ["--format"]),
    "fleet delete": ([PY, "-m", "fleet", "delete"], ["DEVICE", "--yes"]),
    "fleet agent": ([PY, "-m", "fleet", "agent"], ["--config", "--exit-when-done"]),
}
if OCR_CLIENT:
    HELP["ocr-client"] = ([OCR_CLIENT], ["recognize", "info", "health", "bench"])


def _run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", sorted(HELP))
def test_help_exits_zero_and_lists_commands(name):
    cmd, words = HELP[name]
    result = _run([*cmd, "--help"])
    assert result.returncode == 0, result.stderr
    for word in words:
        assert word in result.stdout, f"{name} --help does not mention {word}"


def test_node_help_exits_zero_and_lists_commands():
    node = shutil.which("node")
    if node is None or not (REPO / "clients" / "node" / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("node or clients/node/node_modules is missing (bash scripts/setup.sh)")
    result = _run([node, NODE_CLI, "--help"])
    assert result.returncode == 0, result.stderr
    assert all(word in result.stdout for word in ("recognize", "info", "health"))
    result = _run([node, NODE_CLI, "no-such-command"])
    assert result.returncode == 2 and _one_line_reason(result.stderr) == "USAGE_INVALID"


def _one_line_reason(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    match = re.search(r"\[([A-Z][A-Z0-9_]*)\]$", lines[0])
    assert match, lines[0]
    return match.group(1)


FAILURES = {  # command, the stable reason its one line must end with
    "models: unknown bundle": ([PY, "-m", "models", "fetch", "no-such-bundle"], "BUNDLE_UNKNOWN"),
    "models: unknown command": ([PY, "-m", "models", "frobnicate"], "USAGE_INVALID"),
    "edge_runtime: unknown bundle": (
        [PY, "-m", "edge_runtime", "recognize", "--bundle", "no-such", "x.png"],
        "BUNDLE_UNKNOWN",
    ),
    "edge_runtime: no command": ([PY, "-m", "edge_runtime"], "USAGE_INVALID"),
    "edge_runtime: bad flag": ([PY, "-m", "edge_runtime", "recognize", "--no-such-flag", "x.png"], "USAGE_INVALID"),
    "ocr-client: missing file": (
        [PY, "-m", "clients.ocr_client", "--target", "127.0.0.1:9", "recognize", "no/such/file.png"],
        "IMAGE_UNREADABLE",
    ),
    "ocr-client: no server": (
        [PY, "-m", "clients.ocr_client", "--target", "127.0.0.1:9", "--timeout", "2", "info"],
        "UNAVAILABLE",
    ),
    "ocr-client: no command": ([PY, "-m", "clients.ocr_client"], "USAGE_INVALID"),
    "fleet: no command": ([PY, "-m", "fleet"], "USAGE_INVALID"),
    "fleet: bad duration": ([PY, "-m", "fleet", "query", "--since", "an hour"], "TIME_INVALID"),
    "fleet: delete unconfirmed": ([PY, "-m", "fleet", "delete", "cam-box-1"], "CONFIRMATION_REQUIRED"),
    "fleet: no central": ([PY, "-m", "fleet", "--target", "127.0.0.1:9", "--timeout", "2", "stats"], "UNAVAILABLE"),
}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_failures_are_one_line_with_a_reason(name):
    cmd, reason = FAILURES[name]
    result = _run(cmd)
    assert result.returncode != 0
    assert _one_line_reason(result.stderr) == reason
