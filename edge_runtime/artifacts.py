"""Which file serves each stage: the FP32 ONNX of the bundle, or an INT8 artifact that passed the gate.

INT8 artifacts live beside the bundle in ``<bundle>/int8/<backend>/`` with a ``quantization.json`` written by
``python -m quantize``: ``{"stages": {"det": {"file": "det.xml", "published": true, ...}, ...}, ...}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_runtime.errors import ConfigurationError
from models.bundle import Bundle

RECORD = "quantization.json"


def int8_dir(bundle: Bundle, backend: str) -> Path:
    return bundle.root / "int8" / backend


def quantization_record(bundle: Bundle, backend: str) -> dict[str, Any] | None:
    path = int8_dir(bundle, backend) / RECORD
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def resolve_stage(bundle: Bundle, backend: str, stage: str, precision: str) -> tuple[Path, str]:
    """(model path, "fp32" | "int8") for ``stage`` under the requested precision (auto | int8 | fp32)."""
    if precision == "fp32" or stage == "cls":  # the angle classifier is tiny: never quantized
        return bundle.path(stage), "fp32"
    record = quantization_record(bundle, backend)
    if record is None:
        if precision == "int8":
            raise ConfigurationError(
                f"no INT8 artifacts for bundle {bundle.id!r} on {backend}; run: python -m quantize --bundle {bundle.id}",
                "INT8_NOT_BUILT",
            )
        return bundle.path(stage), "fp32"
    entry = record.get("stages", {}).get(stage, {})
    if entry.get("published") and (int8_dir(bundle, backend) / entry["file"]).is_file():
        return int8_dir(bundle, backend) / entry["file"], "int8"
    return bundle.path(stage), "fp32"  # the gate refused this stage: mixed precision, reported in provenance
