"""The parts a form's rows are made of: lines cut after a colon label and at wide gaps, a unit joined to its number."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from edge_runtime.document.structure import bbox_of
from edge_runtime.fields.text import Box, Line, rows_of
from edge_runtime.types import Point

__all__ = ["Piece", "pieces_of", "row_pieces", "label_like", "value_like", "number_like", "prose"]

_SPLIT_GAP = 1.0  # line heights between two words that are two parts of a form
_UNIT_GAP = 3.0  # line heights between a number and its unit read as a line of its own
_UNIT = re.compile(r"[a-zA-Z%/²³.]{1,6}")  # mm, mg/cc, gm/m², %


@dataclass(frozen=True)
class Piece:
    """A line, or one part of a line cut at its colon or at a wide gap."""

    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float
    key: bool  # ends with a colon

    @property
    def polygon(self) -> tuple[Point, ...]:
        return bbox_of([((self.x0, self.y0), (self.x1, self.y1))])

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)


def row_pieces(lines: Sequence[Line]) -> list[list[Piece]]:
    """A page's lines as printed rows of pieces, rows top to bottom, each left to right."""
    return [with_units([p for line in row for p in pieces_of(line)]) for row in rows_of(lines)]


def pieces_of(line: Line) -> list[Piece]:
    """The line cut into its parts: after a word that ends with a colon, and at a gap wider than the line's height
    (two fields the detector joined into one line)."""
    words = line.words or _split_words(line)
    out: list[Piece] = []
    group: list[Box] = []

    def close(key: bool) -> None:
        if group:
            text = " ".join(w.text for w in group).strip()
            x0, x1 = min(w.x0 for w in group), max(w.x1 for w in group)
            conf = sum(w.confidence for w in group) / len(group)
            out.append(Piece(text, conf, x0, line.y0, x1, line.y1, key))
            group.clear()

    for word in words:
        if group and word.x0 - group[-1].x1 > _SPLIT_GAP * line.height:
            close(False)
        colon = word.text.find(":")
        if 0 < colon < len(word.text) - 1 and not _time_or_ratio(word.text) and word.text[:colon].isalpha():
            # "Date:3/15/88" read as one word: cut it where the colon is
            cut = word.x0 + (word.x1 - word.x0) * (colon + 1) / len(word.text)
            group.append(Box(word.text[: colon + 1], word.confidence, word.x0, word.y0, cut, word.y1))
            close(True)
            group.append(Box(word.text[colon + 1 :], word.confidence, cut, word.y0, word.x1, word.y1))
            continue
        group.append(word)
        if word.text.endswith(":") and not _time_or_ratio(word.text):
            close(True)
    close(False)
    return out


def with_units(row: list[Piece]) -> list[Piece]:
    """The row with a unit read apart from its number (``84`` ``mm``, FUNSD's spec sheets) joined to it: one value."""
    out: list[Piece] = []
    for piece in row:
        last = out[-1] if out else None
        if (
            last is not None
            and last.text[-1:].isdigit()
            and _UNIT.fullmatch(piece.text)
            and 0 <= piece.x0 - last.x1 <= _UNIT_GAP * last.height
        ):
            out[-1] = Piece(
                f"{last.text} {piece.text}",
                min(last.confidence, piece.confidence),
                last.x0,
                min(last.y0, piece.y0),
                piece.x1,
                max(last.y1, piece.y1),
                False,
            )
        else:
            out.append(piece)
    return out


def _split_words(line: Line) -> tuple[Box, ...]:
    """Word boxes for a line that has none, placed by character count along it."""
    step = (line.x1 - line.x0) / max(len(line.text), 1)
    return tuple(
        Box(m.group(0), line.confidence, line.x0 + m.start() * step, line.y0, line.x0 + m.end() * step, line.y1)
        for m in re.finditer(r"\S+", line.text)
    )


def _time_or_ratio(text: str) -> bool:
    return bool(re.search(r"\d:\d", text))


def label_like(piece: Piece) -> bool:
    """Mostly letters: a label, or a value in words."""
    letters = sum(ch.isalpha() for ch in piece.text)
    return letters >= 3 and letters >= 0.6 * len(piece.text.replace(" ", ""))


def value_like(piece: Piece) -> bool:
    """Short, with a digit: a date, an amount, a code, a measure."""
    return any(ch.isdigit() for ch in piece.text) and len(piece.text) <= 40


def number_like(piece: Piece) -> bool:
    """Mostly digits: a table's cell (``(167)``, ``24.75 mm``, ``$35,675``)."""
    text = piece.text.replace(" ", "")
    return sum(ch.isdigit() for ch in text) >= 0.4 * len(text) > 0


def prose(piece: Piece) -> bool:
    """Running text, not a label: it starts in lower case, or is a sentence of more than three words."""
    return piece.text[:1].islower() or (len(piece.text.split()) > 3 and piece.text.endswith("."))
