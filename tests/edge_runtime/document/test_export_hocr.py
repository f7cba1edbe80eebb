"""hOCR writer: well-formed XHTML with the spec's classes and properties, every word back with its box."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edge_runtime.document.export.common import box
from edge_runtime.document.export.hocr import to_hocr
from edge_runtime.document.structure import Block, BlockKind, Break, DocLine, DocWord, Page, Paragraph
from tests.edge_runtime.document.export_pages import ARTICLE, render

XHTML = "{http://www.w3.org/1999/xhtml}"


def _props(element: ET.Element) -> dict[str, str]:
    return dict(p.strip().split(" ", 1) for p in element.get("title", "").split(";") if p.strip())


def _of_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in e.get("class", "").split()]


def test_every_word_parses_back_with_its_box_and_confidence() -> None:
    pages = [render(ARTICLE, number=1)[1], render(ARTICLE[1:3], number=2)[1]]
    root = ET.fromstring(to_hocr(pages, image=["p1.png", "p2.png"]))
    meta = {m.get("name"): m.get("content", "") for m in root.iter(f"{XHTML}meta") if m.get("name")}
    assert meta["ocr-system"]
    capabilities = set(meta["ocr-capabilities"].split())
    assert {"ocr_page", "ocr_carea", "ocr_par", "ocr_line", "ocrx_word", "ocrp_wconf"} <= capabilities
    parent = {child: element for element in root.iter() for child in element}

    found = _of_class(root, "ocr_page")
    assert [_props(p)["ppageno"] for p in found] == ["0", "1"]
    assert [_props(p)["image"] for p in found] == ['"p1.png"', '"p2.png"']
    assert _props(found[0])["bbox"] == "0 0 1240 1754"
    for page, element in zip(pages, found, strict=True):
        words = _of_class(element, "ocrx_word")
        assert [w.text for w in words] == [w.text for w in page.words()]
        for word, got in zip(page.words(), words, strict=True):
            props = _props(got)
            assert tuple(map(int, props["bbox"].split())) == box(word.polygon)
            assert props["x_wconf"] == "90"
            line, par = parent[got], parent[parent[got]]
            area, in_page = parent[par], parent[parent[par]]
            assert (line.get("class"), par.get("class"), in_page) == ("ocr_line", "ocr_par", element)
            assert area.get("class") in ("ocr_carea", "ocr_header", "ocr_footer", "ocr_pageno")
            for outer in (line, par, area):  # each level's box holds the word's
                x0, y0, x1, y1 = map(int, _props(outer)["bbox"].split())
                wx0, wy0, wx1, wy1 = box(word.polygon)
                assert x0 <= wx0 and y0 <= wy0 and wx1 <= x1 and wy1 <= y1
    # Running headers, footers and page numbers are the spec's floats; the flow's blocks are content areas.
    assert [c.get("class") for c in found[0]] == ["ocr_header"] + ["ocr_carea"] * 5 + ["ocr_footer", "ocr_pageno"]
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_markup_in_text_is_escaped_and_control_characters_dropped() -> None:
    poly = ((0.0, 0.0), (50.0, 0.0), (50.0, 20.0), (0.0, 20.0))
    word = DocWord('<a href="x">&\x0c', 0.5, poly, Break.NONE)
    line = DocLine(word.text, 0.5, poly, (word,), angle=90)
    page = Page(1, 60, 30, (Block(BlockKind.TEXT, (Paragraph((line,), ()),), ()),))  # outlines left to the writer
    root = ET.fromstring(to_hocr([page], image="scan 1.png", title="a & b"))
    (got,) = _of_class(root, "ocrx_word")
    assert got.text == '<a href="x">&' and _props(got)["x_wconf"] == "50"
    assert _props(_of_class(root, "ocr_line")[0])["textangle"] == "270"  # reads down: 90 clockwise
    assert (
        _props(_of_class(root, "ocr_carea")[0])["bbox"] == _props(_of_class(root, "ocr_par")[0])["bbox"] == "0 0 50 20"
    )
    assert root.find(f"{XHTML}head/{XHTML}title").text == "a & b"
