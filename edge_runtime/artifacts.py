"""Which file serves each stage: the FP32 ONNX of the bundle, or an INT8 artifact that passed the gate.

INT8 artifacts live beside the bundle in ``<bundle>/int8/<backend>/`` with a ``quantization.json`` written by
``python -m quantize``: ``{"stages": {"det": {"file": "det.xml", "published": true, ...}, ...}, ...}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_runtime.cpu import cpu_features, feature_summary
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


def host_mismatch(record: dict[str, Any]) -> str | None:
    """Why this host is not the one the INT8 gate judged on (its INT8/BF16 instruction sets differ), or None.

    INT8 kernels differ between AVX2, VNNI and AMX, and so do their results: a verdict does not carry over.
    """
    recorded = record.get("inputs", {}).get("cpu_features")
    here = cpu_features()
    if recorded is None or not here or _present(recorded) == _present(here):
        return None
    return f"INT8 was gated on a CPU with {feature_summary(recorded)}, this one has {feature_summary(here)}"


def _present(features: dict[str, bool]) -> set[str]:
    return {flag for flag, on in features.items() if on}


def _int8_cost(entry: dict[str, Any]) -> str:
    """The gate's figures for one stage, in words (what INT8 cost, or would have cost, on the gate set)."""
    figures = entry.get("alone") or entry.get("together") or {}
    if "word_f1_drop_pt" not in figures:
        return ""
    return (f"word F1 {-figures['word_f1_drop_pt']:+.2f} pt, CER {figures.get('cer_rise_pt', 0.0):+.2f} pt "
            "in the gate")


def resolve_stage(bundle: Bundle, backend: str, stage: str, precision: str) -> tuple[Path, str, str]:
    """(model path, "fp32" | "int8", reason) for ``stage`` under the requested precision (auto | int8 | fp32).

    The reason says in words why this precision serves (the server logs it and reports it per stage).
    """
    if stage == "cls":
        return bundle.path(stage), "fp32", "FP32: the angle classifier is tiny and never quantized"
    if precision == "fp32":
        return bundle.path(stage), "fp32", "FP32: asked for (precision fp32)"
    record = quantization_record(bundle, backend)
    if record is None:
        if precision == "int8":
            raise ConfigurationError(
                f"no INT8 artifacts for bundle {bundle.id!r} on {backend}; run: python -m quantize --bundle {bundle.id}",
                "INT8_NOT_BUILT",
            )
        return bundle.path(stage), "fp32", f"FP32: no INT8 build on {backend} (run: python -m quantize)"
    entry = record.get("stages", {}).get(stage, {})
    cost = _int8_cost(entry)
    if entry.get("published") and (int8_dir(bundle, backend) / entry["file"]).is_file():
        moved = host_mismatch(record)
        if moved and precision == "auto":
            return bundle.path(stage), "fp32", f"FP32: {moved}; run python -m quantize to gate INT8 on this host"
        return int8_dir(bundle, backend) / entry["file"], "int8", "INT8: passed the accuracy gate" + (
            f" ({cost})" if cost else "") + (f"; but {moved}" if moved else "")
    # the gate refused this stage: mixed precision, reported in provenance
    return bundle.path(stage), "fp32", f"FP32: {entry.get('verdict') or 'INT8 not published'}"
