"""bench.latency's and bench.plot's pure parts: variants, sets, the ratios to the peers, the frontier, the plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.latency import document_sets, markdown_table, parse_variant
from bench.plot import frontier, plot
from tests.conftest import REPO


def test_parse_variant_types_the_fields() -> None:
    name, fields = parse_variant("det max 960:det_limit_type=max, det_limit_side_len=960")
    assert name == "det max 960"
    assert fields == {"det_limit_type": "max", "det_limit_side_len": 960}
    assert parse_variant("fast:bundle=ppocrv6-tiny") == ("fast", {"bundle": "ppocrv6-tiny"})  # another bundle too


@pytest.mark.parametrize("text", ["no fields:bogus_field=1", ":det_limit_side_len=960", "x:det_limit_side_len"])
def test_parse_variant_refuses_what_it_cannot_apply(text: str) -> None:
    with pytest.raises(SystemExit):
        parse_variant(text)


def test_table_gives_pages_per_second_over_each_rapidocr_peer() -> None:
    ms = {"det": 1.0, "cls": 1.0, "rec": 1.0, "total": 3.0}
    rows = [
        {"name": "ours", "median_ms": ms, "pages_per_s": 1.5},
        {"name": "rapidocr 3.10", "peer_id": "rapidocr", "median_ms": ms, "pages_per_s": 0.5},
        {"name": "rapidocr 3.10 OpenVINO", "peer_id": "rapidocr-openvino", "median_ms": ms, "pages_per_s": 1.0},
    ]
    table = [
        line.split("|")[1:-1] for line in markdown_table(rows, peers=["rapidocr", "rapidocr-openvino"]).splitlines()
    ]
    assert [c.strip() for c in table[0][6:8]] == ["× rapidocr", "× rapidocr-openvino"]
    assert [[c.strip() for c in row[6:8]] for row in table[2:]] == [
        ["3.00", "1.50"],
        ["1.00", "0.50"],
        ["2.00", "1.00"],
    ]
    assert len(markdown_table(rows).splitlines()[2].split("|")) == 9  # no peer named: no ratio column


def _labelled_set(root: Path, name: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "labels.jsonl").write_text("", encoding="utf-8")


def test_document_sets_prefer_held_out_pages_then_rendered_ones(tmp_path: Path) -> None:
    for name in ("synth_receipts", "page_synth", "plates"):
        _labelled_set(tmp_path, name)
    assert document_sets(tmp_path) == ["synth_receipts", "page_synth"]
    for name in ("sroie", "page_tesseract"):
        _labelled_set(tmp_path, name)
    assert document_sets(tmp_path) == ["sroie", "page_tesseract"]
    with pytest.raises(SystemExit):
        document_sets(tmp_path / "plates")


def test_a_missing_set_is_one_clear_error_before_any_model_loads(tmp_path: Path) -> None:
    _labelled_set(tmp_path, "sroie")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.latency",
            "--eval-dir",
            str(tmp_path),
            "--sets",
            "sroie",
            "icdar15_test",
            "--peers",
            "none",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "icdar15_test" in out.stderr and "Traceback" not in out.stderr


def test_frontier_keeps_points_nothing_beats_on_both() -> None:
    points = [(4.0, 86.0), (1.0, 91.0), (0.5, 90.0), (1.5, 91.0), (2.0, 80.0)]
    assert frontier(points) == [(4.0, 86.0), (1.5, 91.0)]


def test_plot_draws_every_row_and_names_missing_peers(tmp_path: Path) -> None:
    ms = {"det": 1.0, "cls": 1.0, "rec": 1.0, "total": 3.0}
    report = {
        "sets": ["sroie"],
        "cpu": "test CPU",
        "missing_peers": {"faster-paddle-tiny": "not importable"},
        "rows": [
            {"name": "ours", "median_ms": ms, "pages_per_s": 1.5, "accuracy": {"word_f1": 0.91}},
            {"name": "rapidocr", "peer": True, "median_ms": ms, "pages_per_s": 0.5, "accuracy": {"word_f1": 0.9}},
        ],
    }
    out = plot(report, tmp_path / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        plot({"rows": [{"name": "ours", "median_ms": ms, "pages_per_s": 1.0}]}, tmp_path / "q.png")
