"""Rendered document pages with their reading order known by construction: 1-3 columns, title, header, footer.

Text flows down the first column and on into the next, as in print; every word's box is where Pillow drew it, so
unit tests can feed the lines straight to the layout step and engine tests can read the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.evaluation.synth import content, fonts
from edge_runtime.types import Point, TextLine, Word

BODY = "DejaVuSerif.ttf"
BOLD = "DejaVuSans-Bold.ttf"
SANS = "DejaVuSans.ttf"


@dataclass
class Rendered:
    """A page image and its lines, listed in reading order, with the blocks' kinds and line ranges."""

    image: Image.Image
    lines: list[TextLine] = field(default_factory=list)
    blocks: list[tuple[str, int, int]] = field(default_factory=list)  # kind, first line, end line (exclusive)
    paragraph_starts: set[int] = field(default_factory=set)  # indices of lines that begin a paragraph

    @property
    def words(self) -> list[str]:
        return [w.text for line in self.lines for w in line.words]

    def rotated(self, quarter_turns: int) -> Rendered:
        """The page turned clockwise by 90 degrees ``quarter_turns`` times, its polygons turned with it."""
        image, lines = self.image, self.lines
        for _ in range(quarter_turns % 4):
            h = image.height
            image = image.transpose(Image.Transpose.ROTATE_270)  # clockwise

            def turn(poly: tuple[Point, ...], h: int = h) -> tuple[Point, ...]:
                return tuple((float(h - y), float(x)) for x, y in poly)

            lines = [
                TextLine(
                    ln.text,
                    ln.confidence,
                    turn(ln.polygon),
                    tuple(Word(w.text, w.confidence, turn(w.polygon)) for w in ln.words),
                    (ln.angle + 90) % 360,
                )
                for ln in lines
            ]
        return Rendered(image, lines, self.blocks, self.paragraph_starts)

    def skewed(self, degrees: float) -> Rendered:
        """The line polygons turned by a small angle about the page centre (a scan fed at a slant)."""
        cx, cy = self.image.width / 2, self.image.height / 2
        c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))

        def turn(poly: tuple[Point, ...]) -> tuple[Point, ...]:
            return tuple((cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in poly)

        lines = [
            TextLine(
                ln.text, ln.confidence, turn(ln.polygon), tuple(Word(w.text, 1.0, turn(w.polygon)) for w in ln.words)
            )
            for ln in self.lines
        ]
        return Rendered(self.image, lines, self.blocks, self.paragraph_starts)


class _Pen:
    def __init__(self, image: Image.Image) -> None:
        self.draw = ImageDraw.Draw(image)

    def line(self, words: list[str], x: float, y: float, face: str, size: int) -> TextLine:
        """Draw ``words`` from (x, y) (the line's top), one space apart; the line with each word's box."""
        font = fonts.font(face, size)
        ascent, descent = font.getmetrics()
        space = font.getlength(" ")
        out = []
        for text in words:
            width = font.getlength(text)
            self.draw.text((x, y), text, font=font, fill=(20, 20, 20))
            out.append(
                Word(text, 1.0, ((x, y), (x + width, y), (x + width, y + ascent + descent), (x, y + ascent + descent)))
            )
            x += width + space
        polygon = (out[0].polygon[0], out[-1].polygon[1], out[-1].polygon[2], out[0].polygon[3])
        return TextLine(" ".join(words), 1.0, polygon, tuple(out))

    def right(self, words: list[str], x1: float, y: float, face: str, size: int) -> TextLine:
        """Draw ``words`` so that they end at ``x1`` (an amount, a right-hand header)."""
        return self.line(words, x1 - fonts.font(face, size).getlength(" ".join(words)), y, face, size)


def _wrap(words: list[str], face: str, size: int, width: float, indent: float) -> list[list[str]]:
    font = fonts.font(face, size)
    lines: list[list[str]] = [[]]
    room = width - indent
    for word in words:
        trial = " ".join([*lines[-1], word])
        if lines[-1] and font.getlength(trial) > room:
            lines.append([])
            room = width
        lines[-1].append(word)
    return lines


def _prose(rng: np.random.Generator, words: int) -> list[str]:
    out: list[str] = []
    while len(out) < words:
        out += content.sentence(rng, 6, 14).split()
    return out


def column_page(
    seed: int,
    columns: int = 2,
    title: bool = True,
    abstract: bool = False,
    figure_gap: int = 0,
    header: bool = True,
    footer: bool = True,
    page_number: str = "",
    size: int = 22,
    width: int = 1240,
    height: int = 1754,
    indent: bool = False,
    spaced: bool = True,
) -> Rendered:
    """A print-like page; ``figure_gap`` pixels of empty space stand for a figure between the title and the body;
    paragraphs are apart by half a line, by an indented first line (``indent``), or by neither (``spaced=False``)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    pen = _Pen(image)
    page = Rendered(image)
    margin, lead = 90, int(size * 1.45)
    x0, x1 = margin, width - margin

    def block(kind: str, drawn: list[TextLine]) -> None:
        page.blocks.append((kind, len(page.lines), len(page.lines) + len(drawn)))
        page.lines.extend(drawn)

    if header:
        left = pen.line(["Annual", "report", str(2020 + seed % 6)], x0, 40, SANS, size - 6)
        right = pen.right(["Section", str(1 + seed % 9)], x1, 40, SANS, size - 6)
        block("header", [left])
        block("header", [right])
    y = 130
    if title:
        words = [w.capitalize() for w in _prose(rng, 5)[:5]]
        page.paragraph_starts.add(len(page.lines))
        block("title", [pen.line(words, x0, y, BOLD, size + 14)])
        y += int((size + 14) * 1.3) + lead
    if abstract:
        drawn = []
        page.paragraph_starts.add(len(page.lines))
        for k, ws in enumerate(_wrap(_prose(rng, 60), SANS, size - 2, x1 - x0, 0)):
            drawn.append(pen.line(ws, x0, y + k * lead, SANS, size - 2))
        block("abstract", drawn)
        y += len(drawn) * lead + lead
    y += figure_gap
    bottom = height - 150
    gutter = 50
    col_w = (x1 - x0 - gutter * (columns - 1)) / columns
    col, cy = 0, y
    flow: list[TextLine] = []
    starts: list[int] = []
    while col < columns:
        first = True
        rows = _wrap(_prose(rng, int(rng.integers(25, 70))), BODY, size, col_w, size * 1.5 if indent else 0)
        if cy != y:
            cy += lead // 2 if spaced and not indent else 0  # paragraphs apart by half a line, an indent, or neither
        for ws in rows:
            if cy + lead > bottom:
                col, cy = col + 1, y
                if col == columns:
                    break
            dx = size * 1.5 if first and indent else 0
            if first:
                starts.append(len(flow))
            flow.append(pen.line(ws, x0 + col * (col_w + gutter) + dx, cy, BODY, size))
            cy += lead
            first = False
    # each column is a block; the flow's lines are in reading order already
    base = len(page.lines)
    page.paragraph_starts.update(base + s for s in starts)
    for c in range(columns):
        left_edge = x0 + c * (col_w + gutter) - 1
        drawn = [ln for ln in flow if left_edge <= ln.polygon[0][0] < left_edge + col_w]
        if drawn:
            # a paragraph that continues in the next column starts again there (a new block)
            page.paragraph_starts.add(len(page.lines))
            block("column", drawn)
    if footer:
        block("footer", [pen.line(["Printed", "for", "review", "only"], x0, height - 70, SANS, size - 6)])
    if page_number:
        line = pen.line(page_number.split(), width / 2 - size, height - 70, SANS, size - 6)
        block("page_number", [line])
    return page


def receipt(seed: int, rows: int = 18, size: int = 22) -> Rendered:
    """A receipt: a shop name, then item rows with their amounts at the right edge, then a total."""
    rng = np.random.default_rng(seed)
    width, height = 620, 160 + rows * int(size * 1.6) + 120
    image = Image.new("RGB", (width, height), (255, 255, 255))
    pen = _Pen(image)
    page = Rendered(image)
    y = 40
    shop = pen.line(["FRESH", "MART", "STORE"], 60, y, BOLD, size + 8)
    page.lines.append(shop)
    y += 80
    for _ in range(rows):
        item = pen.line(str(content.pick(rng, content.ITEMS)).split(), 40, y, SANS, size)
        page.lines += [item, pen.right([content.price(rng)], width - 40, y, SANS, size)]
        y += int(size * 1.6)
    total = pen.line(["TOTAL"], 40, y + 20, BOLD, size)
    page.lines += [total, pen.right(["123.45"], width - 40, y + 20, BOLD, size)]
    page.blocks.append(("receipt", 0, len(page.lines)))
    return page


def balanced_page(seed: int, columns: int = 2, sections: int = 3, size: int = 22) -> Rendered:
    """Sections each under a one-column-wide heading, their text balanced across the columns (a browser's
    ``column-fill: balance`` with spanning headings): the columns restart under every heading."""
    rng = np.random.default_rng(seed)
    width, height = 1240, 1754
    image = Image.new("RGB", (width, height), (255, 255, 255))
    pen = _Pen(image)
    page = Rendered(image)
    x0, x1, gutter, lead = 90, width - 90, 50, int(size * 1.45)
    col_w = (x1 - x0 - gutter * (columns - 1)) / columns
    y = 100
    for s in range(sections):
        page.paragraph_starts.add(len(page.lines))
        heading = pen.line(["Section", str(s + 1)], x0, y, BOLD, size + 4)
        page.blocks.append(("heading", len(page.lines), len(page.lines) + 1))
        page.lines.append(heading)
        y += int((size + 4) * 1.3) + lead // 2
        rows = _wrap(_prose(rng, int(rng.integers(60, 120))), BODY, size, col_w, 0)
        per = -(-len(rows) // columns)
        for c in range(columns):
            part = rows[c * per : (c + 1) * per]
            if not part:
                continue
            page.paragraph_starts.add(len(page.lines))
            drawn = [pen.line(ws, x0 + c * (col_w + gutter), y + k * lead, BODY, size) for k, ws in enumerate(part)]
            page.blocks.append(("column", len(page.lines), len(page.lines) + len(drawn)))
            page.lines.extend(drawn)
        y += per * lead + lead
    return page
