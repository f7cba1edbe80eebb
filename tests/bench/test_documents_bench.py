"""bench.documents: block matching, and one bounded run on the team's document sets (1 page of each part)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from bench.doc_scoring import box_polygon, score_words
from bench.doc_speed import SPEED_PEERS
from tests.conftest import REPO, require_eval_dir


def test_peer_pages_score_order_words_and_blocks_one_to_one() -> None:
    truth = ["Left column.", "Right column."]
    boxes = [box_polygon(0, 0, 100, 100), box_polygon(200, 0, 300, 100)]
    right = score_words(["left", "column", "right", "column"], truth, [boxes[0], boxes[0], boxes[1]], boxes)
    assert right.ned == 0.0 and right.words.f1 == 1.0 and (right.found, right.blocks) == (2, 2)  # each block once
    swapped = score_words(["right", "column", "left", "column"], truth, None, boxes)
    assert swapped.ned == 0.5 and swapped.words.f1 == 1.0 and swapped.found is None  # no blocks: no recall
    spanning = score_words(["left", "column", "right", "column"], truth, [box_polygon(0, 0, 300, 100)], boxes)
    assert spanning.found == 0  # one box over both columns finds neither (IoU 1/3)
    assert score_words([], truth, [box_polygon(0, 0, 100, 200)], boxes).found == 1  # IoU 0.5 exactly counts


@pytest.fixture(scope="module")
def one_page_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The bench on one page of doc_columns, one of doc_scans, and one one-page scanned PDF (doc_scans') timed."""
    eval_dir = require_eval_dir()
    out = tmp_path_factory.mktemp("bench") / "documents.json"
    flags = ["--columns-pages", "1", "--scan-docs", "1", "--scan-pages", "1", "--speed-files", "1"]
    flags += ["--speed-sets", "doc_scans"]  # every system timed on one page: the table's code, half the runs
    run = subprocess.run(
        [sys.executable, "-m", "bench.documents", "--eval-dir", str(eval_dir), *flags, "--speed-pages", "1"]
        + ["--jobs", "1", "--json", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), run.stdout


def _row(rows: list[dict[str, Any]], system: str, kind: str) -> dict[str, Any]:
    return next(r for r in rows if r["system"] == system and r["input"] == kind)


def test_our_rows_on_one_page(one_page_run: tuple[dict[str, Any], str]) -> None:
    report, stdout = one_page_run
    columns = report["columns"]
    born = _row(columns, "ours", "born-digital PDF")
    assert born["sources"] == ["text_layer"] and born["word_f1"] >= 0.99  # the text layer is exact on these PDFs
    assert _row(columns, "ours", "born-digital PDF, OCR")["sources"] == ["ocr"]
    for kind in ("image", "scanned PDF"):
        row = _row(columns, "ours", kind)
        assert row["pages"] == 1 and row["word_f1"] > 0.9 and row["ned"] < 0.1, row  # a one-column page
    assert [r["pages"] for r in report["pdf_vs_image"]] == [1, 1]
    ours = [r for r in report["speed"] if r["system"].startswith("ours")]
    assert len(ours) == 3 and all(r["failed"] == 0 and r["pages"] == 1 and r["pages_per_s"] > 0 for r in ours)
    assert report["host"]["cpu_flags"] is not None and report["loadavg"]["1min_during_run"]["n"] >= 1
    assert "## Reading order (doc_columns)" in stdout and "load average" in stdout


@pytest.mark.parametrize("peer", ["tesseract", "rapidocr", "pdftotext"])
def test_reading_order_peer_rows(one_page_run: tuple[dict[str, Any], str], peer: str) -> None:
    report, stdout = one_page_run
    if peer in report["skipped_peers"]:
        assert f"skipped peer {peer}: " in stdout
        pytest.skip(f"{peer}: {report['skipped_peers'][peer]}")
    row = next(r for r in report["columns"] if r["system"] == peer)
    assert row["pages"] == 1 and row["word_f1"] > 0.9, row


@pytest.mark.parametrize("peer", sorted(SPEED_PEERS))
def test_speed_peer_rows(one_page_run: tuple[dict[str, Any], str], peer: str) -> None:
    report, stdout = one_page_run
    row = next(r for r in report["speed"] if r["system"] == SPEED_PEERS[peer])
    if peer in report["skipped_peers"]:
        assert row["skipped"] == report["skipped_peers"][peer] and f"skipped peer {peer}: " in stdout
        pytest.skip(f"{peer}: {report['skipped_peers'][peer]}")
    assert row["failed"] == 0 and row["pages"] == 1 and row["pages_per_s"] > 0, row
