"""What an INT8 build depended on (its inputs key) and what it produced (sha256 of every artifact).

A build is reused when its recorded inputs key equals the current one and every artifact still verifies.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from edge_runtime.artifacts import RECORD
from models.bundle import Bundle, sha256_file

__all__ = [
    "SCHEMA",
    "tool_versions",
    "code_hash",
    "inputs_key",
    "artifact_hashes",
    "verify",
    "reusable",
    "write_record",
]

SCHEMA = 2  # 2: per-stage decision among fp32/bf16/int8 ("serve"), 1: INT8 published or not
REPO = Path(__file__).resolve().parents[1]
TOOLS = ("onnx", "onnxruntime", "openvino", "nncf", "numpy", "opencv-python-headless")
# Code whose change changes the artifacts (calibration preprocessing, quantization) or the gate figures.
CODE = (
    "quantize/calibration.py",
    "quantize/openvino_ptq.py",
    "quantize/onnx_qdq.py",
    "quantize/gate.py",
    "quantize/decide.py",
    "edge_runtime/artifacts.py",
    "quantize/build.py",
    "quantize/mixed.py",
    "quantize/float_kept.json",
    "edge_runtime/detect.py",
    "edge_runtime/recognize.py",
    "edge_runtime/geometry.py",
    "edge_runtime/classify.py",
    "edge_runtime/evaluation/metrics.py",
    "edge_runtime/evaluation/accuracy.py",
    "edge_runtime/evaluation/datasets.py",
)


def tool_versions() -> dict[str, str]:
    versions = {}
    for name in TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def code_hash() -> str:
    digest = hashlib.sha256()
    for rel in CODE:
        path = REPO / rel
        digest.update(rel.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<missing>") + b"\0")
    return digest.hexdigest()


def bundle_hashes(bundle: Bundle) -> dict[str, str]:
    hashes = {stage: sha256_file(bundle.path(stage)) for stage in ("det", "cls", "rec")}
    hashes["dict"] = sha256_file(bundle.dictionary_path)
    return hashes


def inputs_key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def artifact_hashes(directory: Path, files: list[str]) -> dict[str, str]:
    return {name: sha256_file(directory / name) for name in sorted(files)}


def verify(directory: Path, record: dict[str, Any]) -> list[str]:
    """Problems with the artifacts of a record (missing or changed files); empty when all verify."""
    problems = []
    for name, digest in record.get("artifacts", {}).items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name} changed (sha256 differs)")
    return problems


def reusable(directory: Path, key: str) -> tuple[bool, str]:
    """(reuse?, why) for the build in ``directory`` against the current inputs key."""
    path = directory / RECORD
    if not path.is_file():
        return False, "no INT8 build yet"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False, f"{path} is not JSON"
    if record.get("schema") != SCHEMA or record.get("inputs_key") != key:
        return False, "inputs changed (bundle, calibration images, tools, code or settings)"
    problems = verify(directory, record)
    if problems:
        return False, "artifacts do not verify: " + ", ".join(problems)
    return True, "inputs unchanged and artifacts verify"


def write_record(directory: Path, record: dict[str, Any]) -> Path:
    path = directory / RECORD
    path.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path
