"""Smoke test of bench/grpc_bench.py: a tiny run of every system writes a complete report."""

from __future__ import annotations

import json

from bench import grpc_bench
from tests.conftest import data_root


def test_grpc_bench_tiny_run(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = grpc_bench.main(
        [
            "--eval-dir",
            str(data_root()),
            "--set",
            "synth_signs",
            "--limit",
            "1",
            "--max-side",
            "320",
            "--concurrency",
            "1",
            "2",
            "--requests",
            "1",
            "--warmup",
            "0",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["systems"]) == {"grpc", "engine", "rapidocr"}
    rows = {(r["system"], r["concurrency"]): r for r in report["results"]}
    assert set(rows) == {(s, c) for s in ("grpc", "engine", "rapidocr") for c in (1, 2)}
    for row in rows.values():
        assert row["requests"] == 1 and row["errors"] == 0 and 0 < row["p50_ms"] <= row["p99_ms"]
    assert "| grpc | 1 |" in capsys.readouterr().out
