"""Bundle fetch: verified, atomic, idempotent, and a clear one-line failure when it cannot be done."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from edge_runtime.errors import ModelError
from models import bundle as bundle_mod
from models import fetch as fetch_mod
from tests.conftest import REPO

SMALL = "ppocrv4-mobile"  # the smallest wheel


def test_installed_bundles_verify_and_load() -> None:
    for bundle_id in bundle_mod.manifest()["bundles"]:
        assert fetch_mod.verify_installed(bundle_id), f"{bundle_id} missing: run scripts/setup.sh"
    b = bundle_mod.load_bundle(SMALL)
    assert len(b.characters) == 6623 and b.path("rec").is_file()


def test_fetch_is_idempotent_and_verifies(tmp_path) -> None:
    logs: list[str] = []
    fetch_mod.fetch(SMALL, root=tmp_path, log=logs.append)
    first = {p.name: p.stat().st_mtime_ns for p in (tmp_path / SMALL).iterdir()}
    fetch_mod.fetch(SMALL, root=tmp_path, log=logs.append)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / SMALL).iterdir()} == first
    assert "downloading" not in logs[-1]
    (tmp_path / SMALL / "rec.onnx").write_bytes(b"tampered")
    assert not fetch_mod.verify_installed(SMALL, tmp_path)
    fetch_mod.fetch(SMALL, root=tmp_path, log=logs.append)  # repairs
    assert fetch_mod.verify_installed(SMALL, tmp_path)


def test_hash_mismatch_installs_nothing(tmp_path, monkeypatch) -> None:
    spec = copy.deepcopy(bundle_mod.bundle_spec(SMALL))
    spec["files"]["rec"]["sha256"] = "0" * 64
    monkeypatch.setattr(fetch_mod, "bundle_spec", lambda _id: spec)
    with pytest.raises(ModelError) as err:
        fetch_mod.fetch(SMALL, root=tmp_path, log=lambda _m: None)
    assert err.value.reason == "MODEL_HASH_MISMATCH"
    assert not (tmp_path / SMALL).exists()
    assert [p for p in tmp_path.iterdir()] == []  # no half-written staging dir left behind


def test_unreachable_registry_gives_one_actionable_line(tmp_path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "OCR_MODEL_DIR": str(tmp_path),
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_RETRIES": "0",
        "PIP_DEFAULT_TIMEOUT": "3",
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_NO_INDEX": "",
    }
    out = subprocess.run(
        [sys.executable, "-m", "models", "fetch", SMALL], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not download" in lines[0] and "python -m models fetch" in lines[0]
    assert not (tmp_path / SMALL).exists()


def test_missing_bundle_says_what_to_run(tmp_path, monkeypatch) -> None:
    with pytest.raises(ModelError) as err:
        bundle_mod.load_bundle(SMALL, root=tmp_path)
    assert err.value.reason == "MODEL_NOT_INSTALLED" and "python -m models fetch" in err.value.message
    with pytest.raises(ModelError) as err:
        bundle_mod.load_bundle("no-such-bundle")
    assert err.value.reason == "BUNDLE_UNKNOWN"
