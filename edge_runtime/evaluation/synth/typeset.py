"""Typesetting for the synthetic documents: words set into lines, lines into blocks, text flowed through frames.

Everything is in PDF points from the page's top-left (y down). Each word's box is where the PDF will draw it: its
advance from the font's widths (no kerning, as ``Tj`` draws), from the typographic descender to the ascender. A
block is what ``shared/eval/doc_columns`` calls one: a paragraph, heading, list item or caption, or the part of one
that a frame (a column) holds; a paragraph that runs on into the next frame is a new block there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from edge_runtime.evaluation.synth.pdffonts import metrics

__all__ = ["Word", "Run", "Block", "Shape", "Style", "Frame", "Insert", "wrap", "set_line", "Flow"]


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Run:
    """One ``Tj``: a line's text from (x, baseline), its spaces widened by ``spacing`` points (``Tw``)."""

    text: str
    x: float
    baseline: float
    font: str
    size: float
    spacing: float = 0.0


@dataclass
class Block:
    kind: str  # header | title | heading | paragraph | list_item | caption | footer | page_number
    words: list[Word] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (
            min(w.x0 for w in self.words),
            min(w.y0 for w in self.words),
            max(w.x1 for w in self.words),
            max(w.y1 for w in self.words),
        )

    def add(self, words: list[Word], run: Run) -> None:
        self.words += words
        self.runs.append(run)


@dataclass(frozen=True)
class Shape:
    """A figure's drawing: a rectangle (``points`` = two corners) or a polyline; grey levels 0 (black) to 1."""

    points: tuple[tuple[float, float], ...]
    fill: float | None = None
    stroke: float | None = None
    width: float = 0.5
    rect: bool = False


@dataclass(frozen=True)
class Style:
    """How a kind of text is set: font, size in points, line pitch (baseline to baseline), justified or not."""

    font: str
    size: float
    lead: float
    justify: bool = False


def wrap(words: Sequence[str], style: Style, width: float, indent: float = 0.0, hang: float = 0.0) -> list[list[str]]:
    """Greedy line breaking: the first line ``indent`` narrower, the others ``hang`` narrower."""
    m = metrics(style.font)
    space = m.width(" ", style.size)
    lines: list[list[str]] = [[]]
    used, room = 0.0, width - indent
    for word in words:
        w = m.width(word, style.size)
        if lines[-1] and used + space + w > room:
            lines.append([])
            used, room = 0.0, width - hang
        used += (space if lines[-1] else 0.0) + w
        lines[-1].append(word)
    return [line for line in lines if line]


def set_line(
    words: Sequence[str], x: float, baseline: float, style: Style, stretch_to: float = 0.0
) -> tuple[list[Word], Run]:
    """The line's word boxes and its run; ``stretch_to`` > 0 widens the spaces so the line is that wide."""
    m = metrics(style.font)
    space = m.width(" ", style.size)
    widths = [m.width(w, style.size) for w in words]
    spacing = 0.0
    if stretch_to > 0 and len(words) > 1:
        spacing = max(0.0, (stretch_to - sum(widths) - space * (len(words) - 1)) / (len(words) - 1))
    top, bottom = baseline - m.ascent * style.size / 1000, baseline - m.descent * style.size / 1000
    boxes, at = [], x
    for text, w in zip(words, widths, strict=True):
        boxes.append(Word(text, at, top, at + w, bottom))
        at += w + space + spacing
    return boxes, Run(" ".join(words), x, baseline, style.font, style.size, spacing)


@dataclass(frozen=True)
class Frame:
    """A column, or the part of one between figures: text flows down it, then on into the next frame."""

    x: float
    top: float
    width: float
    bottom: float


@dataclass
class Insert:
    """Blocks and drawings placed where the page put them; they take their place in the reading order when the flow
    reaches them (a caption after the text above its figure)."""

    blocks: list[Block] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    figures: list[tuple[float, float, float, float]] = field(default_factory=list)


@dataclass
class Item:
    """Text waiting to be flowed: ``words`` set in ``style``; ``label`` (a list item's number) hangs in the margin
    of the item's first line."""

    kind: str
    words: list[str]
    style: Style
    indent: float = 0.0
    label: str = ""
    gap_before: float = 0.0


class Flow:
    """Items poured through frames in order; ``blocks`` collects what was set, in reading order."""

    def __init__(self, slots: Sequence[Frame | Insert]) -> None:
        self.slots = list(slots)
        self.blocks: list[Block] = []
        self.shapes: list[Shape] = []
        self.figures: list[tuple[float, float, float, float]] = []
        self._at = -1
        self._y = 0.0
        self._fresh = True  # nothing set in the current frame yet: no gap before the first item
        self._next_frame()

    @property
    def position(self) -> tuple[int, float]:
        """(the current frame's index among the frames, how far down it the text has reached)"""
        return sum(1 for s in self.slots[: self._at] if isinstance(s, Frame)), self._y

    @property
    def full(self) -> bool:
        return self._at >= len(self.slots)

    def _next_frame(self) -> None:
        self._at += 1
        while self._at < len(self.slots) and isinstance(self.slots[self._at], Insert):
            insert = self.slots[self._at]
            assert isinstance(insert, Insert)
            self.blocks += insert.blocks
            self.shapes += insert.shapes
            self.figures += insert.figures
            self._at += 1
        if self._at < len(self.slots):
            frame = self.slots[self._at]
            assert isinstance(frame, Frame)
            self._y, self._fresh = frame.top, True

    def finish(self) -> None:
        """Pass the remaining frames, so inserts after the text's end still take their places."""
        while not self.full:
            self._next_frame()

    def room_for(self, lines: int, style: Style, gap: float = 0.0) -> bool:
        frame = self.slots[self._at]
        assert isinstance(frame, Frame)
        m = metrics(style.font)
        first = self._y + (0.0 if self._fresh else gap) + m.ascent * style.size / 1000
        return first + (lines - 1) * style.lead - m.descent * style.size / 1000 <= frame.bottom

    def pour(self, item: Item, keep_with: int = 1) -> bool:
        """Set ``item`` into the frames (splitting it where a frame ends); False when the frames ran out first.
        ``keep_with``: lines that must share the first frame (a heading is kept with its paragraph's first line)."""
        while not self.full and not self.room_for(keep_with, item.style, item.gap_before):
            self._next_frame()
        if self.full:
            return False
        frame = self.slots[self._at]
        assert isinstance(frame, Frame)
        label_w = metrics(item.style.font).width(item.label + " ", item.style.size) if item.label else 0.0
        words = ([item.label] if item.label else []) + item.words
        lines = wrap(words, item.style, frame.width, item.indent, label_w)
        block = Block(item.kind)
        self.blocks.append(block)
        m = metrics(item.style.font)
        if not self._fresh:
            self._y += item.gap_before
        for k, line in enumerate(lines):
            if not self.room_for(1, item.style):
                self._next_frame()
                if self.full:
                    return False
                frame = self.slots[self._at]
                assert isinstance(frame, Frame)
                block = Block(item.kind)  # the rest of the paragraph: a block of its own in the next column
                self.blocks.append(block)
            baseline = self._y + m.ascent * item.style.size / 1000
            x = frame.x + (item.indent if k == 0 else label_w)
            last = k == len(lines) - 1
            stretch = frame.x + frame.width - x if item.style.justify and not last else 0.0
            block.add(*set_line(line, x, baseline, item.style, stretch))
            self._y = baseline + item.style.lead - m.ascent * item.style.size / 1000
            self._fresh = False
        return True
