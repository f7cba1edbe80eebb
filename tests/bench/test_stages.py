"""bench.stages reads the CPU's INT8 instruction sets from /proc/cpuinfo."""

from __future__ import annotations

from pathlib import Path

from bench.stages import cpu_int8_features


def test_cpu_int8_features_reads_the_first_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\nprocessor\t: 1\nflags\t: amx_int8\n")
    found = cpu_int8_features(info)
    assert found["avx2"] and found["avx512f"] and found["avx512_vnni"]
    assert not found["avx_vnni"] and not found["amx_int8"]  # only the first CPU's line is read


def test_cpu_int8_features_without_cpuinfo(tmp_path: Path) -> None:
    assert cpu_int8_features(tmp_path / "missing") == {}
