"""The eval-set loader and the BASELINES.md parser on the real shared sets (counts from their SOURCE.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.evaluation.accuracy import headline_figure, rapidocr_baseline, read_baselines
from edge_runtime.evaluation.datasets import OCR_KINDS, Kind, kind_of, list_sets, load_set


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("rec_words", Kind.CROP),
        ("page_tesseract", Kind.PAGE),
        ("plates", Kind.PLATE),
        ("sroie", Kind.DETECTION),
        ("kie_sroie", Kind.FIELDS),
        ("kv_funsd", Kind.PAIRS),
        ("doc_columns", Kind.DOCUMENT),
    ],
)
def test_kind_follows_the_name_prefix(name: str, kind: Kind) -> None:
    assert kind_of(name) is kind


def test_headline_figure_per_kind() -> None:
    assert [headline_figure(n) for n in ("icdar15_test", "page_tesseract", "plates", "rec_uw3_lines")] == [
        "word_f1",
        "word_f1",
        "plate_accuracy",
        "exact_match",
    ]


def test_icdar15_toy_regions_and_dont_care(eval_dir: Path) -> None:
    samples = list(load_set("icdar15_toy", eval_dir))
    assert len(samples) == 6
    first = samples[0]
    assert first.image.is_file() and first.kind is Kind.DETECTION
    assert first.regions[0].text == "Genaxis Theatre" and len(first.regions[0].points) == 4
    assert all(r.ignore == (r.text == "###") for s in samples for r in s.regions)
    assert "###" not in first.text and first.text.startswith("Genaxis Theatre\n")


def test_crop_and_page_rows_carry_the_text(eval_dir: Path) -> None:
    crops = list(load_set("rec_words", eval_dir, limit=3))
    assert len(crops) == 3 and crops[0].text == "Play" and crops[0].regions == ()
    page = next(load_set("page_tesseract", eval_dir))
    assert page.kind is Kind.PAGE and page.text.startswith("This is a lot of 12 point text")


def test_every_listed_set_loads(eval_dir: Path) -> None:
    names = list_sets(eval_dir)
    assert {"sroie", "plates", "rec_words", "icdar15_test"} <= set(names)
    for name in names:
        samples = list(load_set(name, eval_dir))
        assert samples and all(s.image.is_file() for s in samples), name


def test_document_field_and_pair_rows_keep_their_truth(eval_dir: Path) -> None:
    page = next(load_set("doc_columns", eval_dir))
    assert page.kind is Kind.DOCUMENT and page.regions and page.extra["blocks"][0]["kind"]
    assert page.text.split("\n\n")[0] == page.extra["blocks"][0]["text"]
    bundle = next(load_set("doc_scans", eval_dir))
    assert bundle.image.suffix == ".pdf" and len(bundle.extra["pages"]) >= 5
    receipt = next(load_set("kie_sroie", eval_dir))
    assert set(receipt.extra["fields"]) == {"company", "date", "address", "total"}
    form = next(load_set("kv_funsd", eval_dir))
    assert form.kind is Kind.PAIRS and form.extra["pairs"][0]["key"]


def test_unknown_set_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(load_set("no_such_set", tmp_path))


def test_baselines_are_parsed_per_set(eval_dir: Path) -> None:
    rows = read_baselines(eval_dir)  # BASELINES.md: the OCR sets (the document figures are in BASELINES_DOCS.md)
    ocr_sets = {name for name in list_sets(eval_dir) if kind_of(name) in OCR_KINDS}
    assert {"sroie", "plates", "page_tesseract", "rec_words", "icdar15_test", "rec_uw3_lines"} <= set(rows) <= ocr_sets
    assert rows["sroie"]["figure"] == "word F1"
    for name in rows:
        assert 0.0 < rapidocr_baseline(rows, name) <= 1.0
    with pytest.raises(KeyError):
        rapidocr_baseline({"x": {"Tesseract 5.3": 0.5}}, "x")
