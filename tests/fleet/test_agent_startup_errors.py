"""Start-up mistakes of the edge agent (`python -m fleet agent`) end in one line on stderr with a stable reason
and a non-zero exit, never a traceback: bad or missing flags, a missing or bad config, an outbox it cannot use,
a bad central target, TLS files missing or not PEM, a taken metrics port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "fleet", "agent", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO, env=env)


def _config(tmp_path: Path, central: str = 'target = "127.0.0.1:1"', outbox: str = "", top: str = "") -> Path:
    replay = tmp_path / "events.jsonl"
    replay.write_text("")
    outbox = outbox or str(tmp_path / "outbox.db")
    path = tmp_path / "agent.toml"
    path.write_text(
        f'device_id = "d1"\n{top}\n[central]\n{central}\n[outbox]\npath = "{outbox}"\n'
        f'[[replay]]\npath = "{replay}"\nstream_id = "s"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def taken_port():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _case(name: str, tmp_path: Path, taken_port: int) -> tuple[str, ...]:
    (tmp_path / "not-pem.txt").write_text("hello")
    (tmp_path / "not-a-db").write_text("hello")
    (tmp_path / "a-file").write_text("hello")

    def config(**kw: str) -> tuple[str, ...]:
        return ("--config", str(_config(tmp_path, **kw)))

    cases = {
        "no flags": (),
        "unknown flag": ("--config", "x.toml", "--verbose"),
        "bad log level": ("--config", "x.toml", "--log-level", "LOUD"),
        "missing config": ("--config", str(tmp_path / "missing.toml")),
        "outbox dir": lambda: config(outbox=str(tmp_path / "a-file" / "outbox.db")),
        "outbox not a db": lambda: config(outbox=str(tmp_path / "not-a-db")),
        "bad target": lambda: config(central='target = "central example:50051"'),
        "ca missing": lambda: config(central=f'target = "h:1"\nca = "{tmp_path}/no-ca.pem"'),
        "ca not pem": lambda: config(central=f'target = "h:1"\nca = "{tmp_path}/not-pem.txt"'),
        "cert without key": lambda: config(central=f'target = "h:1"\ncert = "{tmp_path}/not-pem.txt"'),
        "metrics port taken": lambda: config(top=f"metrics_port = {taken_port}"),
    }
    case = cases[name]
    return case() if callable(case) else case


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no flags", "USAGE_INVALID"),
        ("unknown flag", "USAGE_INVALID"),
        ("bad log level", "USAGE_INVALID"),
        ("missing config", "INVALID_CONFIGURATION"),
        ("outbox dir", "OUTBOX_UNUSABLE"),
        ("outbox not a db", "OUTBOX_UNUSABLE"),
        ("bad target", "CENTRAL_TARGET_INVALID"),
        ("ca missing", "TLS_CONFIG_INVALID"),
        ("ca not pem", "TLS_CONFIG_INVALID"),
        ("cert without key", "TLS_CONFIG_INVALID"),
        ("metrics port taken", "PORT_UNAVAILABLE"),
    ],
)
def test_one_line_with_a_reason(name: str, reason: str, tmp_path: Path, taken_port: int) -> None:
    done = _agent(*_case(name, tmp_path, taken_port))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"[{reason}]"), done.stderr
    assert "reporting to" not in done.stdout  # it did not start
