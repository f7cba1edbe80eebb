"""bench.soak: the per-minute table from recorded calls, and a server under a memory ceiling it cannot meet ends
the soak with the server's non-zero exit status."""

from __future__ import annotations

import json

from bench.soak import main, markdown, summarize


def test_summary_per_bucket() -> None:
    calls = [(1.0, 0.1, "OK"), (2.0, 0.3, "OK"), (3.0, 0.2, "RESOURCE_EXHAUSTED"), (61.0, 0.5, "OK")]
    rss = [(0.5, 500.0), (30.0, 520.0), (70.0, 530.0)]
    rows = summarize(calls, rss, 60, 90)
    assert [r["calls"] for r in rows] == [3, 1] and [r["errors"] for r in rows] == [1, 0]
    assert rows[0]["error_codes"] == {"RESOURCE_EXHAUSTED": 1}
    assert rows[0]["p50_ms"] == 200 and rows[1]["p99_ms"] == 500
    assert [r["rss_mb"] for r in rows] == [520.0, 530.0]
    assert markdown(rows).count("\n") == 3


def test_a_server_over_its_memory_ceiling_ends_the_soak_with_its_status(tmp_path, capsys) -> None:
    status = main(
        [
            "--clients",
            "2",
            "--minutes",
            "1",
            "--limit",
            "1",
            "--set",
            "synth_signs",
            "--server-arg=--max-rss-mb=48",
            "--server-arg=--grace-s=2",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 1
    report = json.loads((tmp_path / "soak.json").read_text())
    assert report["server_exited_early"] is True and report["server_exit_status"] == 3
    assert "status 3" in capsys.readouterr().out
