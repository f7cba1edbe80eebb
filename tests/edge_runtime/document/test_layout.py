"""Reading order, blocks, paragraphs and breaks of rendered pages whose order is known by construction."""

from __future__ import annotations

import pytest

from edge_runtime.document.layout import LayoutParams, build_page, confirm_running, is_page_number
from edge_runtime.document.structure import BlockKind, Break, Page
from edge_runtime.evaluation.metrics import reading_order_ned, text_in_reading_order
from edge_runtime.types import TextLine, Word
from tests.edge_runtime.document.pages import Rendered, balanced_page, column_page, receipt

RUNNING = (BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER)


def _layout(page: Rendered, **kw: object) -> Page:
    return build_page(list(reversed(page.lines)), page.image.width, page.image.height, **kw)  # order not given


def _read(page: Page) -> list[str]:
    return [w.text for w in page.words()]


def _top_to_bottom(page: Rendered) -> str:
    return text_in_reading_order([(ln.text, ln.polygon) for ln in page.lines])


LAYOUTS = {
    "one column, page number": dict(columns=1, page_number="- 3 -"),
    "one column, indented paragraphs": dict(columns=1, indent=True, header=False),
    "two columns, title": dict(columns=2),
    "two columns, figure gap under the title": dict(columns=2, figure_gap=220, page_number="Page 7"),
    "three columns, title and abstract": dict(columns=3, abstract=True),
    "three columns, small print": dict(columns=3, size=18, title=False, footer=False, page_number="12"),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_reading_order_is_the_flow(name: str) -> None:
    rendered = column_page(seed=len(name), **LAYOUTS[name])  # type: ignore[arg-type]
    page = _layout(rendered)
    assert _read(page) == rendered.words
    truth = " ".join(rendered.words)
    assert reading_order_ned(" ".join(_read(page)), truth) == 0.0
    if LAYOUTS[name]["columns"] > 1:  # the pages really interleave when read top to bottom
        assert reading_order_ned(_top_to_bottom(rendered), truth) > 0.4


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_blocks_and_paragraphs(name: str) -> None:
    args = LAYOUTS[name]
    rendered = column_page(seed=len(name), **args)  # type: ignore[arg-type]
    page = _layout(rendered)
    kinds = [b.kind for b in page.blocks]
    header = [BlockKind.HEADER] * 2 if args.get("header", True) else []
    footer = [BlockKind.FOOTER] if args.get("footer", True) else []
    footer += [BlockKind.PAGE_NUMBER] if args.get("page_number") else []
    columns = int(args["columns"])  # type: ignore[call-overload]
    # a block is a column, or the full-width run above the columns (the abstract); the title is a block of its own
    title = [BlockKind.TITLE] if args.get("title", True) else []
    above = [BlockKind.TEXT] if args.get("abstract") else []
    assert kinds == header + title + above + [BlockKind.TEXT] * columns + footer
    # paragraphs start where the renderer started them (a paragraph that goes on in the next column included)
    index = {ln.polygon: k for k, ln in enumerate(rendered.lines)}
    starts = {index[p.lines[0].polygon] for b in page.blocks if b.kind not in RUNNING for p in b.paragraphs}
    assert starts == rendered.paragraph_starts


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_rotated_pages_read_in_their_own_frame(turns: int) -> None:
    rendered = column_page(seed=5, columns=2, page_number="4").rotated(turns)
    page = _layout(rendered)
    assert _read(page) == rendered.words
    assert [b.kind for b in page.blocks][-2:] == [BlockKind.FOOTER, BlockKind.PAGE_NUMBER]


@pytest.mark.parametrize("degrees", [-2.0, 1.5])
def test_skewed_scan_keeps_its_columns(degrees: float) -> None:
    rendered = column_page(seed=8, columns=3, abstract=True).skewed(degrees)
    assert _read(_layout(rendered)) == rendered.words


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_receipt_rows_stay_rows(seed: int) -> None:
    """An item and its amount are one visual row, never two columns; a shop name is a title, no running header."""
    rendered = receipt(seed)
    page = _layout(rendered)
    assert _read(page) == rendered.words
    assert [b.kind for b in page.blocks] == [BlockKind.TITLE, BlockKind.TEXT]  # the shop's name, in larger print
    for block in page.blocks:  # a row's item and amount are in one paragraph, joined by a space
        for para in block.paragraphs:
            for line in para.lines[:-1]:
                if line.text.replace(".", "").isdigit():
                    assert line.words[-1].brk is Break.LINE


def _line(text: str, x: float, y: float, h: float = 20.0) -> TextLine:
    words, cursor = [], x
    for token in text.split():
        w = 10.0 * len(token)
        words.append(Word(token, 0.9, ((cursor, y), (cursor + w, y), (cursor + w, y + h), (cursor, y + h))))
        cursor += w + 10.0
    return TextLine(
        text, 0.9, (words[0].polygon[0], words[-1].polygon[1], words[-1].polygon[2], words[0].polygon[3]), tuple(words)
    )


def test_breaks_join_a_hyphenated_word() -> None:
    lines = [
        _line("the team of inter-", 100, 100),
        _line("national players is well-", 100, 125),
        _line("Known here", 100, 150),
        _line("A new paragraph", 100, 220),
    ]
    page = build_page(lines, 1000, 1000)
    (block,) = page.blocks
    first, second = block.paragraphs
    brks = [w.brk for line in first.lines for w in line.words]
    assert brks == [Break.SPACE] * 3 + [Break.HYPHEN] + [Break.SPACE] * 3 + [Break.LINE, Break.SPACE, Break.PARAGRAPH]
    assert first.text == "the team of international players is well- Known here"
    assert [w.brk for w in second.lines[0].words][-1] is Break.NONE  # the last word of the page


def test_line_without_words_is_cut_into_words() -> None:
    line = TextLine("total due 12.50", 0.8, ((0.0, 0.0), (150.0, 0.0), (150.0, 20.0), (0.0, 20.0)))
    page = build_page([line], 400, 400)
    words = page.words()
    assert [w.text for w in words] == ["total", "due", "12.50"]
    assert words[0].polygon[1][0] < words[1].polygon[0][0] < words[2].polygon[0][0] < 150.0


def test_empty_page() -> None:
    assert build_page([], 100, 100).blocks == ()


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("3", True),
        ("Page 3", True),
        ("- 3 -", True),
        ("xiv", True),
        ("3 / 12", True),
        ("page 3 of 9", True),
        ("Section 3", False),
        ("2024 annual report", False),
        ("mix", False),
        ("civil", False),
        ("vii", True),
        ("12.50", False),
    ],
)
def test_page_numbers(text: str, number: bool) -> None:
    assert is_page_number(text) is number


def test_repeated_text_at_the_same_place_is_running() -> None:
    """With the per-page guess off, the document pass still finds headers, footers and page numbers."""
    blind = LayoutParams(band=0.0)
    rendered = [column_page(seed=s, columns=2, page_number=str(s)) for s in (10, 11, 12)]
    pages = [_layout(r, number=k + 1, params=blind) for k, r in enumerate(rendered)]
    assert all(b.kind is BlockKind.TEXT for p in pages for b in p.blocks)
    confirmed = confirm_running(pages)
    for page, r in zip(confirmed, rendered, strict=True):
        kinds = [b.kind for b in page.blocks]
        assert kinds[0] is BlockKind.HEADER and kinds[-1] is BlockKind.PAGE_NUMBER and BlockKind.FOOTER in kinds
        assert sorted(_read(page)) == sorted(r.words)
        assert page.text.split() == r.words[5:-5]  # the flow without header, footer, number
        assert [w.brk for w in page.words()].count(Break.NONE) == 1 and page.words()[-1].brk is Break.NONE
    assert confirm_running(pages[:1]) == pages[:1]  # one page alone confirms nothing


def test_document_pass_keeps_a_page_number_at_the_top_in_front() -> None:
    pages = []
    for s in (30, 31):
        r = column_page(seed=s, columns=1, header=False, footer=False)
        number = _line(str(s), 600, 40)  # a page number above the body
        pages.append(build_page([number, *r.lines], r.image.width, r.image.height))
    assert [b.kind for b in pages[0].blocks][0] is BlockKind.PAGE_NUMBER
    for page in confirm_running(pages):
        assert [b.kind for b in page.blocks][0] is BlockKind.PAGE_NUMBER
        assert page.words()[-1].brk is Break.NONE


@pytest.mark.parametrize("columns", [2, 3])
def test_columns_restart_under_spanning_headings(columns: int) -> None:
    """Balanced columns under each section heading: a section is read column by column before the next heading."""
    rendered = balanced_page(seed=columns, columns=columns)
    page = _layout(rendered)
    assert _read(page) == rendered.words
    assert reading_order_ned(_top_to_bottom(rendered), " ".join(rendered.words)) > 0.4


def test_lines_joined_across_the_gutter_are_cut_there() -> None:
    """The detector sometimes joins a left-column line and the right-column line beside it into one line."""
    rendered = column_page(seed=3, columns=2, title=False)
    left = rendered.lines[slice(*rendered.blocks[2][1:])]
    right = rendered.lines[slice(*rendered.blocks[3][1:])]
    assert [rendered.blocks[k][0] for k in (2, 3)] == ["column", "column"]
    pairs = [(a, b) for a in left for b in right if abs(a.polygon[0][1] - b.polygon[0][1]) < 1][:3]
    assert len(pairs) == 3
    joined = [
        TextLine(f"{a.text} {b.text}", 1.0, (a.polygon[0], b.polygon[1], b.polygon[2], a.polygon[3]), a.words + b.words)
        for a, b in pairs
    ]
    gone = {id(ln) for pair in pairs for ln in pair}
    lines = [ln for ln in rendered.lines if id(ln) not in gone] + joined
    page = build_page(lines, rendered.image.width, rendered.image.height)
    assert _read(page) == rendered.words


def test_justified_lines_cut_into_pieces_still_make_a_column() -> None:
    """Wide justified spaces make the detector cut a line into one-word pieces; a column counts words by row."""
    rendered = column_page(seed=4, columns=3, title=False)
    pieces = [
        TextLine(w.text, 1.0, w.polygon, (w,)) if ln.polygon[0][0] > 600 else ln
        for ln in rendered.lines
        for w in (ln.words if ln.polygon[0][0] > 600 else ln.words[:1])
    ]
    page = build_page(pieces, rendered.image.width, rendered.image.height)
    assert _read(page) == rendered.words


def test_a_line_beside_a_paragraph_gap_is_no_heading() -> None:
    """Column text whose one line sits in the next column's paragraph gap is not a heading spanning the columns."""
    words = "alpha beta gamma delta epsilon zeta"
    left = [_line(f"{words} l{k}", 100, 100 + 30 * k) for k in range(10)]
    right = [_line(f"{words} r{k}", 600, 100 + 30 * k + (40 if k >= 4 else 0)) for k in range(9)]
    page = build_page(right + left, 1100, 1400)
    assert [ln.text for b in page.blocks for p in b.paragraphs for ln in p.lines] == [ln.text for ln in left + right]


@pytest.mark.parametrize("columns", [1, 2])
def test_paragraphs_without_gap_or_indent_end_at_a_short_line(columns: int) -> None:
    """With neither spacing nor indentation, a paragraph's end shows only as a line with room for the next word."""
    rendered = column_page(seed=40 + columns, columns=columns, spaced=False, title=False, header=False, footer=False)
    page = _layout(rendered)
    index = {ln.polygon: k for k, ln in enumerate(rendered.lines)}
    starts = {index[p.lines[0].polygon] for b in page.blocks for p in b.paragraphs}
    assert starts <= rendered.paragraph_starts  # never a paragraph where the renderer began none
    assert len(starts) >= 0.7 * len(rendered.paragraph_starts)  # a last line that happens to be full cannot show


def test_document_pass_counts_pages_at_the_same_place() -> None:
    blind = LayoutParams(band=0.0)
    body = [_line(f"alpha beta gamma delta {k}", 100, 200 + 30 * k) for k in range(10)]

    def page(header_y: float, number: int) -> Page:
        return build_page([_line("Quarterly notes", 100, header_y), *body], 800, 1000, number=number, params=blind)

    pages = [page(20, 1), page(20, 2), page(22, 3), page(80, 4)]  # the last one's header sits lower
    twice = build_page([_line("Draft copy", 100, 20), _line("Draft copy", 500, 20), *body], 800, 1000, params=blind)
    kinds = [[b.kind for b in p.blocks][0] for p in confirm_running([*pages, twice])]
    assert kinds == [BlockKind.HEADER] * 3 + [BlockKind.TEXT, BlockKind.TEXT]


def test_a_side_label_at_a_right_angle_follows_the_flow() -> None:
    """A label printed up the margin (read bottom to top) neither breaks the columns nor is lost."""
    rendered = column_page(seed=6, columns=2, footer=False)
    x, y0, y1 = 40.0, 1300.0, 300.0  # reads upwards: its top-left corner is at the bottom
    word = Word("CONFIDENTIAL", 1.0, ((x, y0), (x, y1), (x + 20, y1), (x + 20, y0)))
    label = TextLine("CONFIDENTIAL", 1.0, word.polygon, (word,), 270)
    page = build_page([label, *rendered.lines], rendered.image.width, rendered.image.height)
    assert _read(page) == rendered.words + ["CONFIDENTIAL"]


def test_a_lone_digit_read_upside_down_is_still_the_page_number() -> None:
    """The recognizer may guess a wrong direction for a single digit; its square box says nothing either way."""
    rendered = column_page(seed=9, columns=2, page_number="5")
    number = rendered.lines[-1]
    a, b, c, d = number.polygon
    flipped = TextLine("5", 1.0, (c, d, a, b), (Word("5", 1.0, (c, d, a, b)),), 180)
    page = _layout(Rendered(rendered.image, [*rendered.lines[:-1], flipped]))
    assert page.blocks[-1].kind is BlockKind.PAGE_NUMBER and _read(page) == rendered.words
