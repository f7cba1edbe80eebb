"""The generated code is made at set-up only: importing the client never runs protoc or writes a file, and a
missing or stale generated module fails on import with one line that names the command to run. Each case runs
in a subprocess on a copy of clients/ (and proto/), so the repository's own gen/ is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

COMMAND = "python -m clients.ocr_client.codegen"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """clients/ (with gen/ as set-up made it) and proto/, copied into an empty folder."""
    shutil.copytree(REPO / "clients", tmp_path / "clients", ignore=shutil.ignore_patterns("node", "__pycache__"))
    shutil.copytree(REPO / "proto", tmp_path / "proto")
    return tmp_path


def _import(root: Path, module: str) -> subprocess.CompletedProcess:
    code = (
        f"import sys, {module}; print('LOADED', sorted(m for m in sys.modules "
        "if m.startswith(('grpc_tools.', 'clients.ocr_client.codegen'))))"
    )
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("clients.ocr_client.generated.GeneratedCodeError: "), result.stderr
    assert last.endswith(f"run: {COMMAND}")
    return last


@pytest.mark.parametrize(
    "module", ["clients.ocr_client.messages", "clients.ocr_client.pb", "clients.ocr_client.client"]
)
def test_importing_runs_no_protoc_and_writes_nothing(copy: Path, module: str) -> None:
    before = _files(copy)
    result = _import(copy, module)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout  # neither protoc (grpc_tools.protoc) nor the generator was imported
    assert _files(copy) == before


@pytest.mark.parametrize("module", ["clients.ocr_client.messages", "clients.ocr_client.pb"])
def test_missing_generated_code_fails_in_one_line_naming_the_command(copy: Path, module: str) -> None:
    shutil.rmtree(copy / "clients" / "ocr_client" / "gen")
    assert "is missing" in _one_line_error(_import(copy, module))
    assert not (copy / "clients" / "ocr_client" / "gen").exists()  # nothing generated behind the caller's back


def test_the_command_line_says_it_in_one_line_with_a_reason(copy: Path) -> None:
    shutil.rmtree(copy / "clients" / "ocr_client" / "gen")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "clients.ocr_client", "health"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: the generated gRPC code is missing") and COMMAND in line
    assert line.endswith("[GENERATED_CODE_MISSING]")


def test_a_changed_proto_makes_the_generated_code_stale(copy: Path) -> None:
    proto = copy / "proto" / "ocr" / "v1" / "ocr_service.proto"
    proto.write_text(proto.read_text() + "\n// changed\n")
    assert "is stale" in _one_line_error(_import(copy, "clients.ocr_client.messages"))


def test_a_stamp_of_another_grpcio_tools_makes_it_stale(copy: Path) -> None:
    (copy / "clients" / "ocr_client" / "gen" / ".stamp").write_text("0" * 64 + "\n")
    assert "is stale" in _one_line_error(_import(copy, "clients.ocr_client.pb"))


def test_an_installed_copy_without_proto_trusts_what_it_ships(copy: Path) -> None:
    shutil.rmtree(copy / "proto")
    (copy / "clients" / "ocr_client" / "gen" / ".stamp").write_text("not comparable here\n")
    result = _import(copy, "clients.ocr_client.pb")
    assert result.returncode == 0, result.stderr


def test_codegen_makes_it_current_again(copy: Path) -> None:
    shutil.rmtree(copy / "clients" / "ocr_client" / "gen")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    made = subprocess.run(
        [sys.executable, "-m", "clients.ocr_client.codegen"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    assert _import(copy, "clients.ocr_client.pb").returncode == 0
