"""The CPU's instruction sets that decide INT8 and BF16 speed and rounding, read from /proc/cpuinfo.

OpenVINO and ONNX Runtime pick different INT8 kernels (and so slightly different numbers) on AVX2, AVX-512
VNNI, AVX-VNNI and AMX; an INT8 artifact gated on one kind of CPU is not proven on another.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRECISION_FLAGS", "cpu_features", "feature_summary"]

PRECISION_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16")


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, bool]:
    """Which of PRECISION_FLAGS this CPU reports (empty where /proc/cpuinfo is absent).

    ``OCR_CPU_FEATURES`` (comma-separated flags) stands in for /proc/cpuinfo: tests use it to play another
    host, and an operator can pin what a container reports.
    """
    forced = os.environ.get("OCR_CPU_FEATURES")
    if forced is not None:
        flags = {f.strip() for f in forced.split(",") if f.strip()}
        return {f: f in flags for f in PRECISION_FLAGS}
    if not cpuinfo.is_file():
        return {}
    found: set[str] = set()
    for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("flags"):
            found.update(line.split(":", 1)[1].split())
            break
    return {f: f in found for f in PRECISION_FLAGS}


def feature_summary(features: dict[str, bool]) -> str:
    """'avx2+avx512_vnni+...' (the flags present), or 'unknown'."""
    present = [f for f in PRECISION_FLAGS if features.get(f)]
    return "+".join(present) if present else ("none" if features else "unknown")
