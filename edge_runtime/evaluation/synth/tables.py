"""Rendered pages that hold a table, with its cells known by construction (rows, columns, spans, text).

A title, a paragraph, the table (a header row, optionally a group header spanning two columns, optionally ruled),
then another paragraph: what a report page looks like. Every word's box is where Pillow drew it, so unit tests
can feed the words straight to the table step, and engine tests can read the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.evaluation.synth import content, fonts
from edge_runtime.types import TextLine, Word

__all__ = ["TrueCell", "TablePage", "table_page"]

BODY = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"
_HEADS = ("Item", "Region", "Code", "Date", "Amount", "Qty", "Price", "Status", "Owner", "Total")


@dataclass(frozen=True)
class TrueCell:
    row: int
    col: int
    row_span: int
    col_span: int
    text: str


@dataclass
class TablePage:
    """The page image, every line drawn (words with boxes), the table's cells and its box (x0, y0, x1, y1)."""

    image: Image.Image
    lines: list[TextLine] = field(default_factory=list)
    cells: list[TrueCell] = field(default_factory=list)
    rows: int = 0
    cols: int = 0
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def _value(rng: np.random.Generator, col: int) -> str:
    kind = col % 4
    if kind == 0:
        return content.pick(rng, content.ITEMS).split()[0].capitalize()
    if kind == 1:
        return content.digits(rng, 4)
    if kind == 2:
        return content.date(rng)
    return content.price(rng, 900.0)


def _draw_words(draw: ImageDraw.ImageDraw, text: str, x: float, y: float, face: str, size: int) -> TextLine:
    font = fonts.font(face, size)
    ascent, descent = font.getmetrics()
    space = font.getlength(" ")
    words = []
    for token in text.split():
        width = font.getlength(token)
        draw.text((x, y), token, font=font, fill=(20, 20, 20))
        bottom = y + ascent + descent
        words.append(Word(token, 1.0, ((x, y), (x + width, y), (x + width, bottom), (x, bottom))))
        x += width + space
    polygon = (words[0].polygon[0], words[-1].polygon[1], words[-1].polygon[2], words[0].polygon[3])
    return TextLine(text, 1.0, polygon, tuple(words))


def _paragraph(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, y: float, x0: float, x1: float, size: int
) -> tuple[list[TextLine], float]:
    font = fonts.font(BODY, size)
    words = content.sentence(rng, 30, 40).split()
    lines: list[list[str]] = []
    current: list[str] = []
    for w in words:
        if current and font.getlength(" ".join([*current, w])) > x1 - x0:
            lines.append(current)
            current = []
        current.append(w)
    lines.append(current)
    out = []
    for ws in lines:
        out.append(_draw_words(draw, " ".join(ws), x0, y, BODY, size))
        y += size * 1.5
    return out, y


def table_page(
    seed: int,
    rows: int = 6,
    cols: int = 4,
    ruled: bool = True,
    span: bool = True,
    size: int = 22,
    width: int = 1240,
    height: int = 1754,
) -> TablePage:
    """A page with one table of ``rows`` body rows under its header row(s) and ``cols`` columns."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    page = TablePage(image)
    margin = 110.0
    title = f"Report {content.digits(rng, 3)} of the {content.word(rng)} office"
    page.lines.append(_draw_words(draw, title, margin, 100, BOLD, 36))
    para, y = _paragraph(draw, rng, 190.0, margin, width - margin, size)
    page.lines += para
    grid: list[list[tuple[str, int]]] = []  # per row: (text, span) in column order
    if span and cols >= 3:
        group = [("", 1), ("Quarter " + content.digits(rng, 1), 2)] + [("", 1)] * (cols - 3)
        grid.append(group)
    heads = list(_HEADS)
    rng.shuffle(heads)
    grid.append([(heads[c], 1) for c in range(cols)])
    grid += [[(_value(rng, c), 1) for c in range(cols)] for _ in range(rows)]
    font = fonts.font(BODY, size)
    pad = size * 1.2
    full = [r for r in grid if len(r) == cols]  # the rows without a span set the column widths
    widths = [max(font.getlength(r[c][0]) for r in full) for c in range(cols)]
    widths = [max(w, font.getlength("Quarter 0") / 2) + 2 * pad for w in widths]
    xs = [margin]
    for w in widths:
        xs.append(xs[-1] + w)
    row_h = size * 2.0
    top = y + size
    ys = [top + r * row_h for r in range(len(grid) + 1)]
    for r, row in enumerate(grid):
        c = 0
        for text, cspan in row:
            x0, x1 = xs[c], xs[c + cspan]
            if text:
                tw = font.getlength(text)
                tx = x0 + pad if cspan == 1 else (x0 + x1 - tw) / 2
                page.lines.append(_draw_words(draw, text, tx, ys[r] + (row_h - size * 1.2) / 2, BODY, size))
            page.cells.append(TrueCell(r, c, 1, cspan, text))
            c += cspan
    if ruled:  # a rule between two columns is left out inside a cell that spans them
        for yy in ys:
            draw.line([(xs[0], yy), (xs[-1], yy)], fill=(60, 60, 60), width=2)
        for r, row in enumerate(grid):
            c = 0
            for _, cspan in row:
                for edge in (c, c + cspan):
                    draw.line([(xs[edge], ys[r]), (xs[edge], ys[r + 1])], fill=(60, 60, 60), width=2)
                c += cspan
    page.rows, page.cols = len(grid), cols
    page.box = (xs[0], ys[0], xs[-1], ys[-1])
    para, _ = _paragraph(draw, rng, ys[-1] + size * 2, margin, width - margin, size)
    page.lines += para
    return page
