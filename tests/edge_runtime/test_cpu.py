"""edge_runtime.cpu reads the CPU's INT8/BF16 instruction sets from /proc/cpuinfo (or OCR_CPU_FEATURES)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.cpu import cpu_features, feature_summary


def test_reads_the_first_flags_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCR_CPU_FEATURES", raising=False)
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\nprocessor\t: 1\nflags\t: amx_int8\n")
    found = cpu_features(info)
    assert found["avx2"] and found["avx512f"] and found["avx512_vnni"]
    assert not found["avx_vnni"] and not found["amx_int8"]  # only the first CPU's line is read
    assert feature_summary(found) == "avx2+avx512f+avx512_vnni"


def test_without_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCR_CPU_FEATURES", raising=False)
    assert cpu_features(tmp_path / "missing") == {}
    assert feature_summary({}) == "unknown"


def test_the_environment_plays_another_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_CPU_FEATURES", "avx2, amx_int8")
    found = cpu_features(tmp_path / "missing")
    assert found["avx2"] and found["amx_int8"] and not found["avx512f"]
