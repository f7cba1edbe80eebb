"""The gate's record inside a bundle: where ``python -m quantize`` leaves its INT8 files and its verdict.

``<bundle>/int8/<backend>/quantization.json``: ``{"stages": {"det": {"serve": "int8", "file": "det.xml",
"reason": "...", ...}, ...}, "inputs": {"cpu_features": {...}}, "created_utc": ..., ...}``. Part of the bundle's
layout on disk, so it lives with the bundle; what serves on a given host (its CPU may differ from the gate's) is
the runtime's decision (``edge_runtime.artifacts.resolve_stage``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.bundle import Bundle

__all__ = ["RECORD", "int8_dir", "quantization_record", "recorded_choice"]

RECORD = "quantization.json"


def int8_dir(bundle: Bundle, backend: str) -> Path:
    return bundle.root / "int8" / backend


def quantization_record(bundle: Bundle, backend: str) -> dict[str, Any] | None:
    """The gate's record for ``backend``, or None where ``python -m quantize`` has not run for it."""
    path = int8_dir(bundle, backend) / RECORD
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def recorded_choice(entry: dict[str, Any]) -> str:
    """The precision the gate chose for a stage (records of schema 1 only published INT8 or not)."""
    if "serve" in entry:
        return str(entry["serve"])
    return "int8" if entry.get("published") else "fp32"
