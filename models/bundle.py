"""A bundle is detector + angle classifier + recognizer + dictionary + parameters under one id."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from models.errors import ModelError

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
STAGES = ("det", "cls", "rec")


@functools.cache
def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


def model_dir() -> Path:
    """Cache root: ``OCR_MODEL_DIR`` or ``models/cache`` inside the repository (git-ignored)."""
    return Path(os.environ.get("OCR_MODEL_DIR") or Path(__file__).with_name("cache")).resolve()


def default_bundle_id() -> str:
    return manifest()["default_bundle"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class BundleParams:
    """Pre/post-processing numbers that belong to the models (not to a deployment)."""

    det_mean: tuple[float, float, float]
    det_std: tuple[float, float, float]
    det_thresh: float
    det_box_thresh: float
    det_unclip_ratio: float
    det_max_candidates: int
    det_use_dilation: bool
    cls_height: int
    cls_width: int
    cls_thresh: float
    rec_height: int
    rec_min_width: int
    rec_use_space_char: bool

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BundleParams:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ModelError(f"unknown bundle parameters {sorted(unknown)}")
        # JSON values (lists become the tuples the fields hold); the dataclass checks that none is missing.
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**values)


@dataclass(frozen=True)
class Bundle:
    """An installed, verified bundle: where its files are and how to use them."""

    id: str
    version: str
    root: Path
    params: BundleParams
    characters: tuple[str, ...]

    def path(self, stage: str) -> Path:
        return self.root / f"{stage}.onnx"

    @property
    def dictionary_path(self) -> Path:
        return self.root / "dict.txt"


def bundle_spec(bundle_id: str) -> dict[str, Any]:
    bundles = manifest()["bundles"]
    if bundle_id not in bundles:
        raise ModelError(f"unknown bundle {bundle_id!r}; known bundles: {', '.join(sorted(bundles))}", "BUNDLE_UNKNOWN")
    return bundles[bundle_id]


def installed_dir(bundle_id: str, root: Path | None = None) -> Path:
    return (root or model_dir()) / bundle_id


def read_dictionary(path: Path) -> tuple[str, ...]:
    # split on "\n" only: str.splitlines() would also split on characters such as U+2028 in the charset
    text = path.read_text(encoding="utf-8")
    if text.endswith("\n"):
        text = text[:-1]
    return tuple(text.split("\n"))


@functools.cache
def load_bundle(bundle_id: str | None = None, root: Path | None = None) -> Bundle:
    """Open an installed bundle; raises ModelError with the command to run when it is missing."""
    bundle_id = bundle_id or default_bundle_id()
    spec = bundle_spec(bundle_id)
    directory = installed_dir(bundle_id, root)
    stamp = directory / "bundle.json"
    if not stamp.is_file():
        raise ModelError(
            f"model bundle {bundle_id!r} is not installed in {directory.parent}; "
            f"run: python -m models fetch {bundle_id}",
            "MODEL_NOT_INSTALLED",
        )
    params = dict(manifest()["default_params"])
    params.update(spec.get("params", {}))
    return Bundle(
        id=bundle_id,
        version=spec["source"]["wheel"],
        root=directory,
        params=BundleParams.from_dict(params),
        characters=read_dictionary(directory / "dict.txt"),
    )
