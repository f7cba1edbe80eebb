"""Start-up mistakes of `python -m server` end in one line with a stable reason and a non-zero exit, never a
traceback: a taken port, an unknown bundle, no INT8 build, a bogus fleet store URL, a bad flag value."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)


@pytest.fixture(scope="module")
def taken_port():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "reason", "code"),
    [
        (("--bundle", "nosuch"), "BUNDLE_UNKNOWN", 1),
        (("--bundle", "ppocrv6-tiny", "--precision", "int8", "--backend", "onnxruntime"), "INT8_NOT_BUILT", 1),
        (("--role", "central", "--fleet-store", "bogus://x"), "FLEET_STORE_INVALID", 1),
        (("--max-streams", "many"), "USAGE_INVALID", 2),
        (("--port", "TAKEN"), "PORT_UNAVAILABLE", 2),
    ],
)
def test_one_line_with_a_reason(args, reason, code, taken_port):
    args = tuple(str(taken_port) if a == "TAKEN" else a for a in args)
    done = _serve(*args)
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert "Traceback" not in output, output
    failing = [line for line in output.splitlines() if f"[{reason}]" in line]
    assert len(failing) == 1, output
    assert "alembic" not in output  # no third-party chatter at the default level


def test_with_json_logs_the_one_line_is_json_too(tmp_path):
    """A start-up failure found after logging is set up (a certificate that cannot be read) is one JSON record
    carrying the reason; nothing else on stdout or stderr is plain text."""
    missing = str(tmp_path / "missing.pem")
    done = _serve("--log-format", "json", "--tls-cert", missing, "--tls-key", missing)
    assert done.returncode == 2, done.stdout + done.stderr
    records = [json.loads(line) for line in (done.stdout + done.stderr).splitlines()]
    failing = [r for r in records if r.get("reason") == "TLS_CONFIG_INVALID"]
    assert len(failing) == 1 and failing[0]["message"].endswith("[TLS_CONFIG_INVALID]"), records


@pytest.mark.parametrize(
    "args, reason",
    [
        (("--log-format", "json", "--no-such-flag"), "USAGE_INVALID"),  # found while reading the flags
        (("--log-format=json", "--port", "99999"), "INVALID_CONFIGURATION"),  # found by the typed configuration
    ],
)
def test_with_json_logs_mistakes_in_the_flags_are_json_too(args, reason):
    done = _serve(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    records = [json.loads(line) for line in (done.stdout + done.stderr).splitlines()]
    assert [r["reason"] for r in records] == [reason], records
