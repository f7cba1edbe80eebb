"""A PDF page's text layer: words and lines where the renderer draws them, and whether it is trusted."""

from __future__ import annotations

import io

import numpy as np
import pikepdf
import pytest

from edge_runtime.document.sources import DocumentOptions, SourcePage, open_document
from edge_runtime.document.structure import Break
from edge_runtime.document.textlayer import TextLayer, TextLayerMode, decide
from tests.edge_runtime.document.pdfs import Picture, Text, make_pdf, scan


def _first_page(data: bytes, mode: TextLayerMode = TextLayerMode.AUTO) -> SourcePage:
    with open_document(data, DocumentOptions(text_layer=mode)) as document:
        return next(iter(document))


def _ink(page: SourcePage) -> np.ndarray:
    assert page.image is not None
    return page.image.min(axis=2) < 128


def _box(polygon: tuple[tuple[float, float], ...]) -> tuple[int, int, int, int]:
    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    return int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys)))


def _assert_words_cover_the_ink(page: SourcePage) -> None:
    """Every word's box holds ink, and no ink lies outside all word boxes: the boxes are where the words are."""
    ink = _ink(page)
    covered = np.zeros_like(ink)
    assert page.text_layer is not None
    for line in page.text_layer.lines:
        for word in line.words:
            x0, y0, x1, y1 = _box(word.polygon)
            assert ink[y0:y1, x0:x1].sum() > 0, word
            covered[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2] = True
    assert ink.sum() > 0
    assert (ink & ~covered).sum() == 0


def test_born_digital_words_lines_and_boxes() -> None:
    data = make_pdf([[Text("Invoice number 4711", 72, 700, 24), Text("Total due: 12.50 EUR", 72, 640, 12)]])
    page = _first_page(data)
    assert page.text_layer is not None
    assert [line.text for line in page.text_layer.lines] == ["Invoice number 4711", "Total due: 12.50 EUR"]
    first, second = page.text_layer.lines
    assert [w.brk for w in first.words] == [Break.SPACE, Break.SPACE, Break.LINE]
    assert all(w.confidence == 1.0 for w in first.words)
    # 72 pt from the left edge, at the page's DPI; the first line above the second
    assert first.words[0].polygon[0][0] == pytest.approx(page.dpi, abs=1.0)
    assert first.polygon[2][1] < second.polygon[0][1]
    _assert_words_cover_the_ink(page)
    assert page.decision is not None and page.decision.use and page.decision.reason == "TRUSTED"


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_boxes_follow_a_rotated_page(rotate: int) -> None:
    data = make_pdf([[Text("Rotated page text", 100, 600, 20)]], rotate=rotate)
    page = _first_page(data)
    upright = _first_page(make_pdf([[Text("Rotated page text", 100, 600, 20)]]))
    assert (page.width, page.height) == (
        (upright.height, upright.width) if rotate in (90, 270) else (upright.width, upright.height)
    )
    assert page.text_layer is not None and page.text_layer.text == "Rotated page text"
    _assert_words_cover_the_ink(page)


def test_a_page_of_images_has_no_text_to_trust() -> None:
    page = _first_page(make_pdf([[Picture(scan("Only pixels here"), 72, 400, 400, 100)]]))
    assert page.text_layer is not None and page.text_layer.lines == ()
    assert page.decision is not None
    assert (page.decision.use, page.decision.reason) == (False, "NO_TEXT")


def test_an_invisible_ocr_layer_is_text_but_not_trusted() -> None:
    items: list[Text | Picture] = [
        Picture(scan("Another tool read this"), 72, 400, 400, 100),
        Text("Another tool read this", 80, 440, 20, render_mode=3),
    ]
    data = make_pdf([items])
    auto = _first_page(data)
    assert auto.text_layer is not None and auto.text_layer.text == "Another tool read this"
    assert auto.decision is not None
    assert (auto.decision.use, auto.decision.reason, auto.decision.invisible) == (False, "INVISIBLE_TEXT", True)
    only = _first_page(data, TextLayerMode.ONLY)
    assert only.decision is not None and only.decision.use and only.decision.invisible


def _with_unnamed_glyphs(data: bytes) -> bytes:
    """The page's font re-encoded so that its letters map to glyph names with no Unicode value (/g1, /g2...)."""
    pdf = pikepdf.open(io.BytesIO(data))
    differences: list[int | pikepdf.Name] = [32]
    differences += [pikepdf.Name(f"/g{code}") for code in range(32, 127)]
    pdf.pages[0].Resources.Font.F1.Encoding = pikepdf.Dictionary(Differences=differences)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_glyphs_without_unicode_make_the_layer_untrusted() -> None:
    data = _with_unnamed_glyphs(make_pdf([[Text("Hello world", 72, 700, 24)]]))
    page = _first_page(data)
    assert page.text_layer is not None and page.text_layer.unmapped > page.text_layer.chars // 2
    assert page.decision is not None
    assert (page.decision.use, page.decision.reason) == (False, "UNMAPPED_GLYPHS")


@pytest.mark.parametrize(
    ("layer", "mode", "use", "reason"),
    [
        (TextLayer((), 100, 0, 0), TextLayerMode.AUTO, True, "TRUSTED"),
        (TextLayer((), 100, 10, 0), TextLayerMode.AUTO, True, "TRUSTED"),
        (TextLayer((), 100, 11, 0), TextLayerMode.AUTO, False, "UNMAPPED_GLYPHS"),
        (TextLayer((), 100, 0, 51), TextLayerMode.AUTO, False, "INVISIBLE_TEXT"),
        (TextLayer((), 100, 0, 0), TextLayerMode.IGNORE, False, "TRUSTED"),
        (TextLayer((), 0, 0, 0), TextLayerMode.ONLY, True, "NO_TEXT"),
        (None, TextLayerMode.AUTO, False, "NO_TEXT"),
    ],
)
def test_decision(layer: TextLayer | None, mode: TextLayerMode, use: bool, reason: str) -> None:
    decision = decide(layer, mode)
    assert (decision.use, decision.reason) == (use, reason)


def test_boxes_follow_a_media_box_away_from_the_origin() -> None:
    """The same words on a page whose MediaBox starts at (100, 200): the boxes are those of the plain page."""
    plain = _first_page(make_pdf([[Text("Offset origin", 72, 700, 20)]]))
    pdf = pikepdf.open(io.BytesIO(make_pdf([[Text("Offset origin", 172, 900, 20)]])))
    pdf.pages[0].MediaBox = pikepdf.Array([100, 200, 712, 992])
    out = io.BytesIO()
    pdf.save(out)
    moved = _first_page(out.getvalue())
    assert moved.text_layer is not None and plain.text_layer is not None
    for a, b in zip(moved.text_layer.lines[0].words, plain.text_layer.lines[0].words, strict=True):
        assert np.allclose(a.polygon, b.polygon, atol=0.5)
    _assert_words_cover_the_ink(moved)
