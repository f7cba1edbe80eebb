"""The synthetic sets: byte-identical renders, the loader's format, labels that sit on the image, readable text."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.evaluation import synth
from edge_runtime.evaluation.accuracy import engine_recognizer, evaluate_set, headline
from edge_runtime.evaluation.datasets import Kind, kind_of, list_sets, load_set
from edge_runtime.evaluation.synth import docset
from tests.conftest import REPO, get_engine

LIMIT = 3  # images per set: enough to exercise every renderer, quick enough for the default run
NAMES = [s.name for s in synth.SETS]


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.ensure(tmp_path_factory.mktemp("synth") / "sets", limit=LIMIT)


def test_two_renders_are_byte_identical(rendered: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    synth.render(again, limit=LIMIT, workers=2)  # other process layout, same bytes
    first, second = _hashes(rendered), _hashes(again)
    docs = docset.page_count(LIMIT) + 2 * len(docset.DOCUMENTS[:LIMIT]) + 2  # pages, 2 PDFs each, labels, SOURCE
    assert len(first) == len(NAMES) * (LIMIT + 2) + 2 + docs  # images + labels + SOURCE per set; README + stamp
    assert first == second


def test_set_names_counts_and_kinds() -> None:
    assert NAMES == [
        "synth_receipts",
        "synth_signs",
        "plates_synth",
        "page_synth",
        "rec_synth_words",
        "rec_synth_lines",
    ]
    kinds = {s.name: kind_of(s.name) for s in synth.SETS}
    assert kinds == {
        "synth_receipts": Kind.DETECTION,
        "synth_signs": Kind.DETECTION,
        "plates_synth": Kind.PLATE,
        "page_synth": Kind.PAGE,
        "rec_synth_words": Kind.CROP,
        "rec_synth_lines": Kind.CROP,
    }
    assert sum(s.count for s in synth.SETS) >= 450


def test_every_set_loads_in_order_with_its_kind(rendered: Path) -> None:
    assert list_sets(rendered) == sorted([*NAMES, docset.NAME])
    for spec in synth.SETS:
        samples = list(load_set(spec.name, rendered))
        assert len(samples) == LIMIT
        assert [s.image.name for s in samples] == [f"{spec.name}_{i:04d}{spec.ext}" for i in range(LIMIT)]
        assert all(s.kind is kind_of(spec.name) and s.image.is_file() and s.text.strip() for s in samples)
        assert (rendered / spec.name / "SOURCE.md").read_text(encoding="utf-8").startswith(f"# {spec.name}\n")
    assert "| `plates_synth` | plate |" in (rendered / "README.md").read_text(encoding="utf-8")


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) / 2  # > 0: clockwise with y down


def test_quadrilaterals_lie_inside_the_image_clockwise_from_top_left(rendered: Path) -> None:
    regions = 0
    for name in ("synth_receipts", "synth_signs", "plates_synth"):
        for sample in load_set(name, rendered):
            h, w = cv2.imread(str(sample.image)).shape[:2]
            for region in sample.regions:
                pts = np.array(region.points)
                assert pts.shape == (4, 2)
                assert (pts >= -0.5).all() and (pts[:, 0] <= w + 0.5).all() and (pts[:, 1] <= h + 0.5).all()
                assert _signed_area(pts) > 20
                assert int(np.argmin(pts.sum(axis=1))) == 0  # starts at the top-left corner (tilts are small)
                assert region.ignore == (region.text == "###") and region.text.strip()
                regions += 1
    assert regions > 50


def test_plate_labels_have_no_spaces(rendered: Path) -> None:
    for sample in load_set("plates_synth", rendered):
        (plate,) = sample.regions
        assert plate.text.isalnum() and plate.text == "".join(c for c in sample.extra["printed"] if c.isalnum())


def test_ensure_keeps_a_current_render_and_redoes_a_stale_one(rendered: Path) -> None:
    stamp = rendered / ".stamp.json"
    before = stamp.stat().st_mtime_ns
    assert synth.ensure(rendered, limit=LIMIT) == rendered
    assert stamp.stat().st_mtime_ns == before  # current: nothing rendered
    assert json.loads(stamp.read_text())["sets"]["rec_synth_words"] == LIMIT
    other = rendered.parent / "stale"
    synth.ensure(other, limit=1)
    (other / ".stamp.json").write_text("{}")  # as if the renderer had changed
    (other / "rec_synth_words" / "labels.jsonl").write_text("")
    synth.ensure(other, limit=1)
    assert len(list(load_set("rec_synth_words", other))) == 1
    assert json.loads((other / ".stamp.json").read_text()) == synth.stamp(limit=1)
    assert not [
        p for p in rendered.parent.iterdir() if p.name.startswith(".stale.") and not p.name.endswith(".lock")
    ]  # no temporary folder left behind


def test_default_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCR_SYNTH_DIR", str(tmp_path / "x"))
    assert synth.default_dir() == (tmp_path / "x").resolve()
    monkeypatch.delenv("OCR_SYNTH_DIR")
    monkeypatch.setenv("OCR_MODEL_DIR", str(tmp_path / "models"))
    assert synth.default_dir() == (tmp_path / "models" / "synth").resolve()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime.evaluation.synth", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_help_and_one_line_failure(tmp_path: Path) -> None:
    assert _cli("--help").returncode == 0
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    failed = _cli("--out", str(blocker / "sets"), "--limit", "1")
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr


@pytest.mark.parametrize("name", NAMES)
def test_the_fp32_engine_reads_each_set(rendered: Path, name: str) -> None:
    engine = get_engine(backend="onnxruntime", precision="fp32")
    result = evaluate_set(engine_recognizer(engine), name, rendered, limit=LIMIT)
    assert result["images"] == LIMIT
    floor = 0.3 if kind_of(name) in (Kind.CROP, Kind.PLATE) else 0.6  # of 3 images: at least one crop or plate
    assert headline(result) >= floor, result
