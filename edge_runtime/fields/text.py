"""The lines fields are read from: text, box and words of an OCR line, a document line or a cached one, in rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from edge_runtime.types import Point

__all__ = ["LineLike", "Box", "Line", "lines_of", "rows_of", "MAX_LINES", "MAX_LINE_CHARS"]

MAX_LINES = 2000  # lines a page's fields look at: a page of 5,000 tiny boxes costs no more than this many
MAX_LINE_CHARS = 300  # characters of a line that rules and patterns see


class LineLike(Protocol):
    """An OCR line (``types.TextLine``), a document line (``DocLine``) or a word of either."""

    @property
    def text(self) -> str: ...

    @property
    def confidence(self) -> float: ...

    @property
    def polygon(self) -> tuple[Point, ...]: ...


@dataclass(frozen=True)
class Box:
    """A word of a line: its text and axis-aligned box."""

    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Line:
    """A line as the rules see it: its text (capped), confidence, polygon and axis-aligned box."""

    text: str
    confidence: float
    polygon: tuple[Point, ...]
    x0: float
    y0: float
    x1: float
    y1: float
    words: tuple[Box, ...] = ()

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    def same_row(self, other: Line) -> bool:
        """The two lines share most of their height (one printed row)."""
        overlap = min(self.y1, other.y1) - max(self.y0, other.y0)
        return overlap > 0.5 * min(self.height, other.height)


def lines_of(lines: Iterable[LineLike]) -> list[Line]:
    """The non-empty lines with a finite box, top to bottom then left to right, at most MAX_LINES."""
    out: list[Line] = []
    for line in lines:
        text = " ".join(line.text.split())[:MAX_LINE_CHARS]
        pts = [(float(x), float(y)) for x, y in line.polygon]
        if not text or not pts or not all(abs(v) < 1e9 for p in pts for v in p):
            continue
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        out.append(
            Line(
                text,
                float(line.confidence),
                tuple(pts),
                min(xs),
                min(ys),
                max(xs),
                max(ys),
                _boxes(getattr(line, "words", ())),
            )
        )
        if len(out) >= MAX_LINES:
            break
    out.sort(key=lambda ln: (ln.cy, ln.x0))
    return out


def _boxes(words: Iterable[LineLike]) -> tuple[Box, ...]:
    out = []
    for word in words:
        pts = [(float(x), float(y)) for x, y in word.polygon]
        if word.text.strip() and pts and all(abs(v) < 1e9 for p in pts for v in p):
            xs, ys = [x for x, _ in pts], [y for _, y in pts]
            out.append(Box(word.text.strip(), float(word.confidence), min(xs), min(ys), max(xs), max(ys)))
    return tuple(out[:MAX_LINE_CHARS])


def rows_of(lines: Sequence[Line]) -> list[list[Line]]:
    """The lines grouped into printed rows (each row left to right), rows top to bottom."""
    rows: list[list[Line]] = []
    for line in lines:  # sorted by centre y
        if rows and any(line.same_row(other) for other in rows[-1]):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda ln: ln.x0) for row in rows]
