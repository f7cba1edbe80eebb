"""ALTO v4 writer: the schema's element order and attributes, every word back with its box, SP and HYP in place.

No pinned package ships the official ALTO XSD (PyPI's ALTO tools parse ALTO, none carries the schema), so the
structure the schema requires is checked here, element by element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edge_runtime.document.export.alto import NAMESPACE, to_alto
from edge_runtime.document.export.common import box
from edge_runtime.document.structure import BlockKind
from tests.edge_runtime.document.export_pages import ARTICLE, Spec, render

A = "{" + NAMESPACE + "}"


def _box(element: ET.Element) -> tuple[int, int, int, int]:
    x, y, w, h = (int(element.get(k, "-1")) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    return (x, y, x + w, y + h)


def test_every_word_parses_back_with_its_box_in_the_schemas_order() -> None:
    pages = [render(ARTICLE, number=1)[1], render(ARTICLE[1:3], number=2)[1]]
    root = ET.fromstring(to_alto(pages, image="article.pdf"))
    assert root.tag == f"{A}alto"
    description, layout = list(root)
    assert [c.tag for c in description] == [f"{A}MeasurementUnit", f"{A}sourceImageInformation", f"{A}Processing"]
    assert description[0].text == "pixel"
    assert layout.tag == f"{A}Layout"
    for number, (page, element) in enumerate(zip(pages, layout, strict=True), 1):
        assert element.tag == f"{A}Page"
        assert (element.get("PHYSICAL_IMG_NR"), element.get("WIDTH"), element.get("HEIGHT")) == (
            str(number),
            "1240",
            "1754",
        )
        children = [c.tag[len(A) :] for c in element]
        expected = ["TopMargin", "BottomMargin", "PrintSpace"] if number == 1 else ["PrintSpace"]
        assert children == expected  # the schema's sequence: margins before the print space
        strings = list(element.iter(f"{A}String"))
        # The margins' blocks first (as the schema orders them), then the flow's in reading order.
        margin = (BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER)
        blocks = [b for b in page.blocks if b.kind in margin] + [b for b in page.blocks if b.kind not in margin]
        words = [w for b in blocks for p in b.paragraphs for line in p.lines for w in line.words]
        assert [s.get("CONTENT") for s in strings] == ["hyphen" if w.text == "hyphen-" else w.text for w in words]
        for word, got in zip(words, strings, strict=True):
            assert _box(got) == box(word.polygon)
            assert got.get("WC") == "0.90"
        for block in element.iter(f"{A}TextBlock"):
            assert all(c.tag == f"{A}TextLine" for c in block)
            for line in block:
                tags = [c.tag[len(A) :] for c in line]
                # (String, SP?)+ then HYP?: a space between two words, never at the line's end.
                core = tags[:-1] if tags[-1] == "HYP" else tags
                assert core == ["String", "SP"] * (len(core) // 2) + ["String"]
                assert "HYP" not in core
                for i in range(1, len(core), 2):
                    gap = line[i]
                    assert int(gap.get("HPOS", "-1")) == _box(line[i - 1])[2]
                    assert int(gap.get("HPOS", "-1")) + int(gap.get("WIDTH", "-1")) == _box(line[i + 1])[0]
    flow = [s.get("CONTENT") for s in layout[0].find(f"{A}PrintSpace").iter(f"{A}String")]  # type: ignore[union-attr]
    assert "Journal" not in flow and "Confidential" not in flow and "7" not in flow and "Reading" in flow
    ids = [e.get("ID") for e in root.iter() if e.get("ID")]
    assert len(ids) == len(set(ids))


def test_a_word_broken_by_a_hyphen_is_two_strings_a_hyp_and_the_whole_word() -> None:
    page = render([Spec(BlockKind.TEXT, [["a hyphen-", "ated word"]])])[1]
    root = ET.fromstring(to_alto([page]))
    first, second = root.iter(f"{A}TextLine")
    assert [c.tag[len(A) :] for c in first] == ["String", "SP", "String", "HYP"]
    assert first[-1].get("CONTENT") == "-"
    part1, part2 = first[2], second[0]
    assert (part1.get("CONTENT"), part1.get("SUBS_TYPE"), part1.get("SUBS_CONTENT")) == (
        "hyphen",
        "HypPart1",
        "hyphenated",
    )
    assert (part2.get("CONTENT"), part2.get("SUBS_TYPE"), part2.get("SUBS_CONTENT")) == (
        "ated",
        "HypPart2",
        "hyphenated",
    )
    assert root.find(f"{A}Description/{A}sourceImageInformation") is None
