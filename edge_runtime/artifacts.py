"""Which file and precision serve each stage: the FP32 ONNX of the bundle, the same file in BF16 (OpenVINO's
inference-precision hint), or an INT8 artifact, as the host's gate decided.

The gate's record lives beside the INT8 files in ``<bundle>/int8/<backend>/quantization.json`` (written by
``python -m quantize``): ``{"stages": {"det": {"serve": "int8", "file": "det.xml", "int8_ok": true,
"reason": "...", ...}, ...}, "inputs": {"cpu_features": {...}}, ...}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_runtime.cpu import cpu_features, feature_summary
from edge_runtime.errors import ConfigurationError
from models.bundle import Bundle
from models.gate_record import RECORD, int8_dir, quantization_record, recorded_choice

__all__ = ["RECORD", "int8_dir", "quantization_record", "host_mismatch", "resolve_stage"]


def host_mismatch(record: dict[str, Any]) -> str | None:
    """Why this host is not the one the gate judged on (its INT8/BF16 instruction sets differ), or None.

    INT8 kernels differ between AVX2, VNNI and AMX, BF16 is native only with AVX-512 BF16 or AMX: accuracy and
    speed, so the verdict, do not carry over.
    """
    recorded = record.get("inputs", {}).get("cpu_features")
    here = cpu_features()
    if recorded is None or not here or _present(recorded) == _present(here):
        return None
    return f"the gate ran on a CPU with {feature_summary(recorded)}, this one has {feature_summary(here)}"


def _present(features: dict[str, bool]) -> set[str]:
    return {flag for flag, on in features.items() if on}


def _int8_ok(entry: dict[str, Any]) -> bool:
    return bool(entry.get("int8_ok", entry.get("published")))


def resolve_stage(bundle: Bundle, backend: str, stage: str, precision: str) -> tuple[Path, str, str]:
    """(model path, "fp32" | "bf16" | "int8", reason) for ``stage`` under the requested precision.

    ``auto`` serves what the gate chose for this host (fastest within the accuracy budget); ``int8`` serves
    INT8 wherever its artifact is within the budget, speed aside; ``fp32`` serves FP32. A BF16 stage runs the
    FP32 file with OpenVINO's BF16 hint (the engine sets it). The reason says in words why this precision
    serves (the server logs it and reports it per stage).
    """
    if stage == "cls":
        return bundle.path(stage), "fp32", "FP32: the angle classifier is tiny and never quantized"
    if precision == "fp32":
        return bundle.path(stage), "fp32", "FP32: asked for (precision fp32)"
    record = quantization_record(bundle, backend)
    if record is None:
        if precision == "int8":
            raise ConfigurationError(
                f"no INT8 artifacts for bundle {bundle.id!r} on {backend}; "
                f"run: python -m quantize --bundle {bundle.id}",
                "INT8_NOT_BUILT",
            )
        return bundle.path(stage), "fp32", f"FP32: no gate record on {backend} (run: python -m quantize)"
    entry = record.get("stages", {}).get(stage, {})
    why = entry.get("reason") or entry.get("verdict") or ""
    int8_file = int8_dir(bundle, backend) / entry["file"] if entry.get("file") else None
    moved = host_mismatch(record)
    if precision == "int8":
        if _int8_ok(entry) and int8_file is not None and int8_file.is_file():
            return (
                int8_file,
                "int8",
                "INT8: asked for (precision int8); within the accuracy budget" + (f"; but {moved}" if moved else ""),
            )
        return bundle.path(stage), "fp32", f"FP32: INT8 not within the accuracy budget ({why or 'not gated'})"
    chosen = recorded_choice(entry)
    if chosen == "fp32":
        return bundle.path(stage), "fp32", f"FP32: {why or 'the gate chose FP32'}"
    if moved:
        return (
            bundle.path(stage),
            "fp32",
            (f"FP32: the gate chose {chosen.upper()}, but {moved}; run python -m quantize to decide on this host"),
        )
    if chosen == "bf16":
        if backend != "openvino":  # BF16 is OpenVINO's inference-precision hint; nothing else would honour it
            return bundle.path(stage), "fp32", f"FP32: the record asks for BF16, which {backend} does not run"
        return bundle.path(stage), "bf16", f"BF16: {why or 'the gate chose BF16'}"
    if chosen == "int8" and int8_file is not None and int8_file.is_file():
        return int8_file, "int8", f"INT8: {why or 'the gate chose INT8'}"
    return bundle.path(stage), "fp32", f"FP32: the gate chose {chosen.upper()}, which is missing here ({int8_file})"
