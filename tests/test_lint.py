"""Lint and types in the test run: ruff (lint and format) and mypy, as configured in pyproject.toml.

Each tool runs from this interpreter's environment (the .venv that scripts/setup.sh fills from
requirements-dev.txt), so CI and a developer's run use the pinned versions; a finding fails with the tool's output.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version

import pytest

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
MYPY = PYPROJECT["tool"]["mypy"]
# The product's packages: what ships (pyproject's setuptools include, without its wildcards).
PACKAGES = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
GENERATED = "clients.ocr_client.gen.*"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def _failure(done: subprocess.CompletedProcess[str]) -> str:
    return f"`{' '.join(done.args[2:])}` exited {done.returncode}:\n{done.stdout}{done.stderr}"


def test_ruff_check() -> None:
    done = _run("ruff", "check", "--no-cache", "--output-format=concise", ".")
    assert done.returncode == 0, _failure(done)


def test_ruff_format() -> None:
    done = _run("ruff", "format", "--check", "--no-cache", "--output-format=concise", ".")
    assert done.returncode == 0, _failure(done)


def test_mypy() -> None:
    done = _run("mypy")  # files, flags and per-module overrides: [tool.mypy] in pyproject.toml
    assert done.returncode == 0, _failure(done)


def test_mypy_covers_every_package() -> None:
    assert sorted(MYPY["files"]) == sorted(PACKAGES)


def test_no_blanket_ignores() -> None:
    """Silencing is per module and says why in pyproject.toml: never for the whole run, never for our own code
    other than the generated gRPC modules; ruff ignores no rule globally."""
    assert not {"ignore_errors", "ignore_missing_imports", "follow_imports"} & set(MYPY)
    for override in MYPY.get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        ours = [m for m in modules if m.split(".")[0] in PACKAGES]
        if override.get("ignore_errors"):
            assert modules == [GENERATED], override
        if override.get("ignore_missing_imports"):
            assert not ours, f"our own modules must be importable by mypy: {ours}"
    lint = PYPROJECT["tool"]["ruff"]["lint"]
    assert not lint.get("ignore") and not lint.get("per-file-ignores"), lint


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_tools_are_pinned(tool: str) -> None:
    """The version that runs is the one requirements-dev.txt pins (a stale .venv would judge other rules)."""
    pins = dict(re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "requirements-dev.txt").read_text()))
    assert tool in pins, f"{tool} is not pinned in requirements-dev.txt"
    assert version(tool) == pins[tool], f"{tool} {version(tool)} installed, {pins[tool]} pinned: run scripts/setup.sh"
