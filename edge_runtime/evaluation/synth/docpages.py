"""The synthetic documents' pages, composed in PDF points: running headers and footers, a title and abstract across
the page, one to three columns, headings, numbered lists, figures across the columns or inside one, headings
across the columns; blocks listed in reading order as they are composed, so the order is known by construction.

Each document has a fixed plan (``DOCUMENTS``: which page shows which case), so the set always covers every case;
the rng picks the prose, sizes, spacing, alignment and figure drawings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_runtime.evaluation.synth import content as tx
from edge_runtime.evaluation.synth.pdffonts import metrics
from edge_runtime.evaluation.synth.typeset import Block, Flow, Frame, Insert, Item, Shape, Style, set_line, wrap

__all__ = ["PAPER", "PagePlan", "DocumentPlan", "DOCUMENTS", "Page", "compose"]

Rng = np.random.Generator
PAPER = {"Letter": (612.0, 792.0), "A4": (595.0, 842.0)}
GUTTER = 18.0  # points between columns


@dataclass(frozen=True)
class PagePlan:
    columns: int
    title: bool = False
    abstract: bool = False  # a full-width paragraph under the title, above the columns
    figure: str = ""  # "span": across the columns, between two column regions; "column": inside the first column
    spanning_heading: bool = False  # a heading across the columns, between two column regions
    numbered_list: bool = False
    ends: bool = False  # the document's text ends on this page (its last column runs short)


@dataclass(frozen=True)
class DocumentPlan:
    paper: str
    family: tuple[str, str, str]  # body, bold (headings, title), italic (captions, abstract)
    pages: tuple[PagePlan, ...]
    header: str  # "two": title left, section right; "one": a title line; "number": title left, page number right
    footer: str  # "page": "Page N"; "dash": "- N -"; "of": "N / M" with a left-hand note
    stream: str = "reading"  # the PDF draws the lines in reading order, or "rows": top to bottom across columns


DOCUMENTS: tuple[DocumentPlan, ...] = (
    DocumentPlan(
        "Letter",
        ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"),
        (PagePlan(1, title=True, numbered_list=True), PagePlan(1, figure="span", ends=True)),
        header="two",
        footer="page",
    ),
    DocumentPlan(
        "A4",
        ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf"),
        (
            PagePlan(2, title=True, abstract=True),
            PagePlan(2, figure="span"),
            PagePlan(2, figure="column", numbered_list=True, ends=True),
        ),
        header="one",
        footer="dash",
    ),
    DocumentPlan(
        "Letter",
        ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"),
        (PagePlan(3, title=True, abstract=True), PagePlan(3, spanning_heading=True, ends=True)),
        header="number",
        footer="of",
        stream="rows",
    ),
)


@dataclass
class Page:
    """A composed page: blocks in reading order (running headers first, footers last) and the figures' drawings."""

    width: float
    height: float
    paper: str
    plan: PagePlan
    stream: str = "reading"
    blocks: list[Block] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    figures: list[tuple[float, float, float, float]] = field(default_factory=list)
    fonts: dict[str, str] = field(default_factory=dict)
    layout: dict[str, object] = field(default_factory=dict)


def _words(rng: Rng, lo: int, hi: int) -> list[str]:
    out: list[str] = []
    target = int(rng.integers(lo, hi + 1))
    while len(out) < target:
        out += tx.sentence(rng, 6, 16).split()
    return out


def _title_words(rng: Rng, n: int) -> list[str]:
    small = {"the", "of", "and", "to", "in", "for", "on", "with", "as", "by", "at", "from", "an", "or"}
    words = [tx.word(rng) for _ in range(n)]
    return [w if k and w in small else w.capitalize() for k, w in enumerate(words)]


class _Writer:
    """One document's text: prose paragraphs, headings and lists, drawn from the rng as the frames ask."""

    def __init__(self, rng: Rng, styles: dict[str, Style], indent_style: bool) -> None:
        self.rng, self.styles, self.indent_style = rng, styles, indent_style
        self.section = 0
        self.figure = 0

    def paragraph(self) -> Item:
        body = self.styles["body"]
        indent = 1.5 * body.size if self.indent_style else 0.0
        gap = 0.0 if self.indent_style else 0.45 * body.lead
        return Item("paragraph", _words(self.rng, 25, 75), body, indent=indent, gap_before=gap)

    def heading(self, numbered: bool = True) -> Item:
        """A section heading; numbered in the flow's order, or (across the columns) a part's unnumbered name."""
        words = _title_words(self.rng, int(self.rng.integers(1, 4)) + (0 if numbered else 1))
        if numbered:
            self.section += 1
            words.insert(0, f"{self.section}.")
        style = self.styles["heading"]
        return Item("heading", words, style, gap_before=0.9 * self.styles["body"].lead)

    def list_items(self) -> list[Item]:
        body = self.styles["body"]
        count = int(self.rng.integers(3, 5))
        items = []
        for k in range(count):
            words = tx.sentence(self.rng, 5, 18).split()
            gap = 0.45 * body.lead if k == 0 else 0.15 * body.lead
            items.append(Item("list_item", words, body, indent=body.size, label=f"{k + 1}.", gap_before=gap))
        return items

    def caption(self, x: float, top: float, width: float) -> Block:
        self.figure += 1
        style = self.styles["caption"]
        words = [f"Figure {self.figure}.", *tx.sentence(self.rng, 5, 14).split()]
        block = Block("caption")
        baseline = top + metrics(style.font).ascent * style.size / 1000
        for k, line in enumerate(wrap(" ".join(words).split(), style, width)):
            block.add(*set_line(line, x, baseline + k * style.lead, style))
        return block


def _figure(rng: Rng, x0: float, y0: float, x1: float, y1: float) -> list[Shape]:
    """A chart without text: a frame, axes, and bars or a line or two, in greys."""
    shapes = [Shape(((x0, y0), (x1, y1)), fill=0.97, stroke=0.6, width=0.6, rect=True)]
    pad = 0.08 * min(x1 - x0, y1 - y0)
    ax0, ay0, ax1, ay1 = x0 + pad, y0 + pad, x1 - pad, y1 - pad
    shapes.append(Shape(((ax0, ay0), (ax0, ay1), (ax1, ay1)), stroke=0.2, width=0.8))
    if tx.chance(rng, 0.5):
        n = int(rng.integers(4, 9))
        step = (ax1 - ax0) / n
        for k in range(n):
            top = ay1 - float(rng.uniform(0.15, 0.95)) * (ay1 - ay0)
            grey = float(rng.uniform(0.3, 0.75))
            shapes.append(Shape(((ax0 + (k + 0.2) * step, top), (ax0 + (k + 0.8) * step, ay1)), fill=grey, rect=True))
    else:
        for series in range(int(rng.integers(1, 3))):
            xs = np.linspace(ax0 + 2, ax1 - 2, int(rng.integers(8, 16)))
            walk = np.cumsum(rng.normal(0, 1, len(xs)))
            walk = (walk - walk.min()) / max(1e-6, float(np.ptp(walk)))
            ys = ay1 - (0.1 + 0.8 * walk) * (ay1 - ay0)
            points = tuple((float(x), float(y)) for x, y in zip(xs, ys, strict=True))
            shapes.append(Shape(points, stroke=0.1 + 0.4 * series, width=1.2))
    return shapes


def _running(
    doc: DocumentPlan,
    number: int,
    pages: int,
    title: str,
    section: str,
    width: float,
    height: float,
    margin: float,
    style: Style,
) -> tuple[list[Block], list[Block]]:
    """The page's header and footer blocks (left to right), kinds header, footer or page_number."""
    head_y = margin * 0.55
    foot_y = height - margin * 0.45

    def at(kind: str, text: str, where: str, baseline: float) -> Block:
        words = text.split()
        w = metrics(style.font).width(text, style.size)
        x = {"left": margin, "right": width - margin - w, "centre": (width - w) / 2}[where]
        block = Block(kind)
        block.add(*set_line(words, x, baseline, style))
        return block

    heads = [at("header", title, "left", head_y)]
    if doc.header == "two":
        heads.append(at("header", section, "right", head_y))
    elif doc.header == "number":
        heads.append(at("page_number", str(number), "right", head_y))
    feet = []
    if doc.footer == "page":
        feet.append(at("page_number", f"Page {number}", "centre", foot_y))
    elif doc.footer == "dash":
        feet.append(at("page_number", f"- {number} -", "centre", foot_y))
    else:
        feet.append(at("footer", "Draft for review only", "left", foot_y))
        feet.append(at("page_number", f"{number} / {pages}", "right", foot_y))
    return heads, feet


def compose(doc: DocumentPlan, rng: Rng) -> list[Page]:
    """The document's pages, its text flowing on from page to page (a page ends at a line; the next page starts
    a new paragraph)."""
    width, height = PAPER[doc.paper]
    body_font, bold, italic = doc.family
    columns = max(p.columns for p in doc.pages)
    size = float(rng.uniform(10.0, 11.5)) if columns == 1 else float(rng.uniform(8.8, 10.0))
    lead = size * float(rng.uniform(1.22, 1.4))
    justify = tx.chance(rng, 0.6)
    styles = {
        "body": Style(body_font, size, lead, justify),
        "heading": Style(bold, size * 1.15, size * 1.5),
        "caption": Style(italic, size * 0.9, size * 0.9 * 1.25),
        "abstract": Style(italic, size, lead, justify),
        "title": Style(bold, size * float(rng.uniform(1.7, 2.1)), size * 2.5),
        "running": Style(body_font if tx.chance(rng, 0.5) else "DejaVuSans.ttf", size * 0.8, size),
    }
    writer = _Writer(rng, styles, indent_style=tx.chance(rng, 0.5))
    margin = float(rng.uniform(50, 66))
    title = _title_words(rng, int(rng.integers(3, 7)))
    short_title = " ".join(title[:3])
    section = " ".join(_title_words(rng, 2))
    pages = []
    for number, plan in enumerate(doc.pages, 1):
        page = Page(width, height, doc.paper, plan, doc.stream)
        page.fonts = {"body": body_font, "headings": bold, "captions": italic, "running": styles["running"].font}
        page.layout = {
            "title": plan.title,
            "abstract": plan.abstract,
            "figure": plan.figure,
            "spanning_heading": plan.spanning_heading,
            "list": plan.numbered_list,
            "header": doc.header,
            "footer": doc.footer,
            "stream": doc.stream,
            "align": "justify" if justify else "left",
            "paragraphs": "indent" if writer.indent_style else "gap",
            "body_pt": round(size, 2),
        }
        heads, feet = _running(
            doc, number, len(doc.pages), short_title, section, width, height, margin, styles["running"]
        )
        top, bottom = margin, height - margin
        left, span = margin, width - 2 * margin
        full: list[Block] = []
        if plan.title:
            full.append(_full_width("title", title, styles["title"], left, top, span))
            top = full[-1].box[3] + 0.8 * lead
        if plan.abstract:
            full.append(_full_width("paragraph", _words(rng, 55, 80), styles["abstract"], left, top, span))
            top = full[-1].box[3] + 1.2 * lead
        slots = _slots(plan, writer, rng, left, top, span, bottom, lead)
        flow = Flow([Insert(blocks=heads + full), *slots])
        _fill(flow, plan, writer)
        flow.finish()
        page.blocks = flow.blocks + feet
        page.shapes, page.figures = flow.shapes, flow.figures
        pages.append(page)
    return pages


def _full_width(kind: str, words: list[str], style: Style, x: float, top: float, width: float) -> Block:
    block = Block(kind)
    baseline = top + metrics(style.font).ascent * style.size / 1000
    lines = wrap(words, style, width)
    for k, line in enumerate(lines):
        stretch = width if style.justify and k < len(lines) - 1 else 0.0
        block.add(*set_line(line, x, baseline + k * style.lead, style, stretch))
    return block


def _columns(count: int, x: float, width: float, top: float, bottom: float) -> list[Frame]:
    col = (width - GUTTER * (count - 1)) / count
    return [Frame(x + k * (col + GUTTER), top, col, bottom) for k in range(count)]


def _slots(
    plan: PagePlan, writer: _Writer, rng: Rng, left: float, top: float, span: float, bottom: float, lead: float
) -> list[Frame | Insert]:
    """The page's frames and inserts in reading order."""
    cols = plan.columns
    if plan.figure == "span" or plan.spanning_heading:
        split = top + float(rng.uniform(0.3, 0.45)) * (bottom - top)
        between = Insert()
        if plan.figure == "span":
            fig_w = span * (0.85 if cols > 1 else float(rng.uniform(0.55, 0.8)))
            fx0 = left + (span - fig_w) / 2
            fig_h = float(rng.uniform(0.18, 0.26)) * (bottom - top)
            fy0 = split + 0.9 * lead
            between.shapes = _figure(rng, fx0, fy0, fx0 + fig_w, fy0 + fig_h)
            between.figures = [(fx0, fy0, fx0 + fig_w, fy0 + fig_h)]
            caption = writer.caption(fx0, fy0 + fig_h + 0.5 * lead, fig_w)
            between.blocks = [caption]
            resume = caption.box[3] + 1.1 * lead
        else:
            item = writer.heading(numbered=False)
            block = Block("heading")
            block.add(*set_line(item.words, left, split + 1.2 * lead, item.style))
            between.blocks = [block]
            resume = block.box[3] + 0.9 * lead
        return [*_columns(cols, left, span, top, split), between, *_columns(cols, left, span, resume, bottom)]
    frames: list[Frame | Insert] = list(_columns(cols, left, span, top, bottom))
    if plan.figure == "column":
        first = frames[0]
        assert isinstance(first, Frame)
        split = top + float(rng.uniform(0.25, 0.4)) * (bottom - top)
        fig_h = first.width * float(rng.uniform(0.6, 0.8))
        fy0 = split + 0.6 * lead
        shapes = _figure(rng, first.x, fy0, first.x + first.width, fy0 + fig_h)
        caption = writer.caption(first.x, fy0 + fig_h + 0.5 * lead, first.width)
        insert = Insert([caption], shapes, [(first.x, fy0, first.x + first.width, fy0 + fig_h)])
        lower = Frame(first.x, caption.box[3] + 1.1 * lead, first.width, bottom)
        frames[0:1] = [Frame(first.x, top, first.width, split), insert, lower]
    return frames


def _fill(flow: Flow, plan: PagePlan, writer: _Writer) -> None:
    """Pour headings, paragraphs and (where planned) a list until the frames are full (or, on the document's last
    page, until about two thirds of the last column are used)."""
    listed = not plan.numbered_list
    frames = [s for s in flow.slots if isinstance(s, Frame)]
    stop = None
    if plan.ends:
        last = frames[-1]
        stop = (len(frames) - 1, last.top + 0.6 * (last.bottom - last.top))
    count = 0
    while not flow.full:
        if stop is not None and flow.position >= stop:
            return
        if count % 3 == 1 and not flow.pour(writer.heading(), keep_with=3):
            return
        if count == 2 and not listed:
            listed = True
            for item in writer.list_items():
                if not flow.pour(item):
                    return
        elif not flow.pour(writer.paragraph()):
            return
        count += 1
