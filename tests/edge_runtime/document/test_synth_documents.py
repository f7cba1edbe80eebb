"""Documents on the project's own rendered set (``doc_synth``: born-digital PDFs, their scans as PDFs and images,
blocks in reading order by construction), scored as ``shared/eval/README.md`` defines the document figures.

Born-digital pages are read from their text layer (no OCR, cheap): every page of the set. OCR is a few seconds a
page on two cores, so four page images (a title and abstract across two columns, a figure across two columns, a
figure inside a column with a list, a heading across three columns) and two scanned-PDF pages are OCR'd, with the
FP32 engine (see test_layout_engine.py: boxes that do not depend on the precision the host's gate chose).

Thresholds are what was measured on this set when it was made, with a margin; each test says its figures.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_runtime.document.layout import build_page, confirm_running
from edge_runtime.document.reader import read_document
from edge_runtime.document.sources import DocumentOptions
from edge_runtime.document.structure import BlockKind, Page, TextSource
from edge_runtime.evaluation import documents
from edge_runtime.evaluation.datasets import Kind, load_set
from edge_runtime.evaluation.metrics import normalize_words
from edge_runtime.evaluation.synth import docset
from tests.conftest import data_root, get_engine

OCR_PAGES = ("images/d02_p1.jpg", "images/d02_p2.jpg", "images/d02_p3.jpg", "images/d03_p2.jpg")
RUNNING_KINDS = {BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER}


@pytest.fixture(scope="module")
def root() -> Path:
    return data_root() / docset.NAME


@pytest.fixture(scope="module")
def rows(root: Path) -> list[dict]:
    return documents.rows(root)


def _row(rows: list[dict], image: str) -> dict:
    return next(r for r in rows if r["image"] == image)


class _NoOcr:
    """A recognizer for pages that must come from their text layer: reading one by OCR fails the test."""

    def recognize(self, image: np.ndarray) -> object:
        raise AssertionError("a born-digital page was OCR'd")


def _born_digital(root: Path, rows: list[dict]) -> Iterator[tuple[Page, dict]]:
    for pdf in dict.fromkeys(r["pdf"] for r in rows):
        mine = [r for r in rows if r["pdf"] == pdf]
        pages = list(read_document(root / pdf, _NoOcr()))
        assert [p.number for p in pages] == [r["page"] for r in mine]
        yield from zip(pages, mine, strict=True)


@functools.cache
def _ocr_page(image: str) -> Page:
    result = get_engine(precision="fp32").recognize(data_root() / docset.NAME / image)
    return build_page(result.lines, result.width, result.height)


def _alnum(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _running_marked(page: Page, row: dict) -> list[str]:
    """The true running headers, footers and page numbers that the page does not mark as such (matched by their
    letters and digits, so OCR's "2/2" is "2 / 2": IoU is no fair test of a one-digit box), each with its reading."""
    top = {_alnum(b.text): b.kind for b in page.blocks}
    wrong = []
    for block in row["blocks"]:
        if block["kind"] not in documents.RUNNING:
            continue
        kind = top.get(_alnum(block["text"]))
        want = {BlockKind.PAGE_NUMBER} if block["kind"] == "page_number" else RUNNING_KINDS
        if kind not in want:
            wrong.append(f"{block['kind']} {block['text']!r} read as {kind}")
    return wrong


def _matched(page: Page, row: dict) -> dict[int, int]:
    """True block index -> index of the page's paragraph found for it (IoU >= 0.5), in the true order."""
    units = [poly for _, poly in documents.paragraph_units(page)]
    matched = documents.match_blocks(documents.truth_polygons(row["blocks"]), units)
    return {t: matched[t] for t in sorted(matched)}


def test_the_set_shows_every_case(rows: list[dict], root: Path) -> None:
    assert len(rows) == docset.page_count() >= 6
    samples = list(load_set(docset.NAME, root.parent))  # the shared loader reads it as it reads doc_columns
    assert len(samples) == len(rows) and all(s.kind is Kind.DOCUMENT and s.regions for s in samples)
    assert {r["columns"] for r in rows} == {1, 2, 3}
    layouts = [r["layout"] for r in rows]
    assert {lay["figure"] for lay in layouts} >= {"span", "column"}
    assert any(lay["spanning_heading"] for lay in layouts) and any(lay["list"] for lay in layouts)
    assert any(lay["abstract"] and r["columns"] > 1 for lay, r in zip(layouts, rows, strict=True))
    kinds = {b["kind"] for r in rows for b in r["blocks"]}
    assert kinds >= {"header", "title", "heading", "paragraph", "list_item", "caption", "footer", "page_number"}
    for row in rows:
        width, height = Image.open(root / row["image"]).size
        assert (root / row["pdf"]).is_file() and (root / row["scanned_pdf"]).is_file()
        assert row["blocks"][0]["kind"] in ("header", "page_number") and row["blocks"][-1]["kind"] == "page_number"
        for block in row["blocks"]:
            xs, ys = [x for x, _ in block["points"]], [y for _, y in block["points"]]
            assert 0 <= min(xs) < max(xs) <= width and 0 <= min(ys) < max(ys) <= height, block


def test_born_digital_pages_are_read_from_their_text_layer(root: Path, rows: list[dict]) -> None:
    """Measured: word F1 1.0000 on every page, no OCR call. The issue asks >= 0.99."""
    counts = []
    for page, row in _born_digital(root, rows):
        assert page.source is TextSource.TEXT_LAYER and not page.error
        score = documents.score_page(page, row, key="pdf_box", scale=(page.dpi / 72, page.dpi / 72))
        assert score.words.f1 >= 0.99, (row["image"], score.words)
        counts.append(score.words)
    total = sum(counts[1:], counts[0])
    assert total.f1 >= 0.995, total


def test_born_digital_pages_read_in_order_with_their_blocks(root: Path, rows: list[dict]) -> None:
    """Measured: NED 0.000 on all 7 pages (lines top to bottom: 0.80-0.95 on the multi-column pages), block recall
    1.000 (138 blocks), every running header, footer and page number marked."""
    by_columns: dict[int, list[tuple[float, float]]] = {}
    found = blocks = 0
    for page, row in _born_digital(root, rows):
        score = documents.score_page(page, row, key="pdf_box", scale=(page.dpi / 72, page.dpi / 72))
        by_columns.setdefault(row["columns"], []).append((score.ned, score.top_down_ned))
        found, blocks = found + score.found, blocks + score.blocks
        assert not _running_marked(page, row), (row["image"], _running_marked(page, row))
    for columns, neds in by_columns.items():
        ours = sum(n for n, _ in neds) / len(neds)
        assert ours <= 0.02, (columns, neds)
        if columns > 1:
            assert ours < 0.1 * sum(t for _, t in neds) / len(neds), (columns, neds)
    assert found / blocks >= 0.95, (found, blocks)


def test_running_blocks_stay_marked_when_confirmed_across_each_document(root: Path, rows: list[dict]) -> None:
    """``confirm_running`` (the writers' pass over all pages) keeps every running block marked and the order."""
    read = list(_born_digital(root, rows))
    for pdf in dict.fromkeys(r["pdf"] for r in rows):
        mine = [(page, row) for page, row in read if row["pdf"] == pdf]
        confirmed = confirm_running([page for page, _ in mine])
        for page, (_, row) in zip(confirmed, mine, strict=True):
            assert not _running_marked(page, row), (row["image"], _running_marked(page, row))
            assert documents.score_page(page, row, key="pdf_box", scale=(page.dpi / 72,) * 2).ned <= 0.02


@pytest.mark.parametrize("image", OCR_PAGES)
def test_ocr_pages_read_in_order_with_their_blocks(rows: list[dict], image: str) -> None:
    """Measured (FP32): NED 0.000-0.007 (lines top to bottom 0.80-0.96), block recall 0.95-0.96: the one block
    missed on each page is its page number ("- 1 -", "2"), whose OCR box is too unlike its advance box for IoU 0.5,
    though it is read and marked. Margins: NED <= 0.03, recall >= 0.85."""
    row = _row(rows, image)
    page = _ocr_page(image)
    score = documents.score_page(page, row)
    assert score.ned <= 0.03 and score.ned < 0.1 * score.top_down_ned, score
    assert score.recall >= 0.85, score
    assert not _running_marked(page, row)
    found = _matched(page, row)
    assert list(found.values()) == sorted(found.values()), found  # the blocks found come in the true order


def test_a_title_and_abstract_across_two_columns_come_first(rows: list[dict]) -> None:
    row = _row(rows, "images/d02_p1.jpg")
    page = _ocr_page(row["image"])
    flow = [b for b in page.blocks if b.kind not in RUNNING_KINDS]
    title = next(b for b in row["blocks"] if b["kind"] == "title")
    abstract = next(b for b in row["blocks"] if b["kind"] == "paragraph")
    assert flow[0].kind is BlockKind.TITLE
    assert normalize_words(flow[0].text) == normalize_words(title["text"])
    assert normalize_words(flow[1].paragraphs[0].text) == normalize_words(abstract["text"])
    xs = [x for x, _ in flow[1].paragraphs[0].polygon]
    columns = [x for b in flow[2:] for x, _ in b.polygon]
    assert max(xs) - min(xs) > 0.9 * (max(columns) - min(columns))  # across both columns


@pytest.mark.parametrize("image", ["images/d02_p2.jpg", "images/d02_p3.jpg"])
def test_a_figure_between_columns_adds_no_words_and_keeps_the_order(rows: list[dict], image: str) -> None:
    """Measured: word precision 1.000 (nothing read from the charts); the caption after the text above the figure
    and before the text below it."""
    row = _row(rows, image)
    page = _ocr_page(image)
    score = documents.score_page(page, row)
    assert score.words.precision >= 0.99, score.words
    caption = next(i for i, b in enumerate(row["blocks"]) if b["kind"] == "caption")
    found = _matched(page, row)
    assert caption in found
    above = [k for t, k in found.items() if t < caption]
    below = [k for t, k in found.items() if t > caption]
    assert max(above) < found[caption] < min(below), found


def test_scanned_pdf_pages_read_as_their_images(root: Path, rows: list[dict]) -> None:
    """The scanned PDF embeds the page images' JPEG bytes; read from the PDF (rendered at the DPI the reader
    chooses, 171 here, against the images' 200), its pages score the word F1 of the images within 0.5 points
    (measured: 1.0000 both; over all 7 pages the gap is 0.00-0.49 points) and keep their order (NED 0.000) and
    blocks (recall 0.96)."""
    mine = [r for r in rows if r["scanned_pdf"] == "pdf/d02_scan.pdf"][:2]
    pages = list(read_document(root / mine[0]["scanned_pdf"], get_engine(precision="fp32"), DocumentOptions("1-2")))
    for page, row in zip(pages, mine, strict=True):
        assert page.source is TextSource.OCR and page.dpi > 0
        width, height = Image.open(root / row["image"]).size
        pdf = documents.score_page(page, row, scale=(page.width / width, page.height / height))
        image = documents.score_page(_ocr_page(row["image"]), row)
        assert abs(pdf.words.f1 - image.words.f1) <= 0.005, (pdf.words, image.words)
        assert pdf.ned <= 0.03 and pdf.recall >= 0.85, pdf
