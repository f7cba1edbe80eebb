"""Form key -> value pairs: a printed label and the value that belongs to it.

Lines are cut into parts after a colon and at wide gaps. A label ends with a colon, or stands before a value
apart from it on its row (``Overall Length      84 mm``). Its value is the rest of its row up to the next label,
else (a colon label) the part right under it (a box's content under its caption). A row of short labels over rows
of values is a table: each header is paired with the numbers under it. Tuned on kv_funsd (docs/fields.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from edge_runtime.document.structure import bbox_of
from edge_runtime.fields.model import KeyValue, Span
from edge_runtime.fields.text import Box, Line, rows_of
from edge_runtime.types import Point

__all__ = ["form_pairs", "SET_NAME"]

SET_NAME = "form"
_SPLIT_GAP = 1.0  # line heights between two words that are two parts of a form
_MAX_GAP = 20.0  # line heights between a label and a value right of it on the row
_LABEL_GAP = 1.0  # line heights between a label without colon and a wordy value right of it
_TABLE_GAP = 3.0  # line heights between two rows of one table
_MAX_TABLE_ROWS = 60
_BELOW_GAP = 1.2  # line heights between a label and a value under it


@dataclass(frozen=True)
class _Piece:
    """A line, or one part of a line cut at its colon."""

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


def _pieces(line: Line) -> list[_Piece]:
    """The line cut into its parts: after a word that ends with a colon, and at a gap wider than the line's height
    (two fields the detector joined into one line)."""
    words = line.words or _split_words(line)
    out: list[_Piece] = []
    group: list[Box] = []

    def close(key: bool) -> None:
        if group:
            text = " ".join(w.text for w in group).strip()
            x0, x1 = min(w.x0 for w in group), max(w.x1 for w in group)
            conf = sum(w.confidence for w in group) / len(group)
            out.append(_Piece(text, conf, x0, line.y0, x1, line.y1, key))
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


def _split_words(line: Line) -> tuple[Box, ...]:
    """Word boxes for a line that has none, placed by character count along it."""
    step = (line.x1 - line.x0) / max(len(line.text), 1)
    return tuple(
        Box(m.group(0), line.confidence, line.x0 + m.start() * step, line.y0, line.x0 + m.end() * step, line.y1)
        for m in re.finditer(r"\S+", line.text)
    )


def _time_or_ratio(text: str) -> bool:
    return bool(re.search(r"\d:\d", text))


def _label_like(piece: _Piece) -> bool:
    letters = sum(ch.isalpha() for ch in piece.text)
    return letters >= 3 and letters >= 0.6 * len(piece.text.replace(" ", ""))


def _value_like(piece: _Piece) -> bool:
    return any(ch.isdigit() for ch in piece.text) and len(piece.text) <= 40


def form_pairs(lines: Sequence[Line]) -> list[KeyValue]:
    """The key -> value pairs of a page's lines (sorted as ``text.lines_of`` gives them)."""
    rows = [[p for line in row for p in _pieces(line)] for row in rows_of(lines)]
    out: list[KeyValue] = []
    taken: set[int] = set()  # values already given to a label on their row or above
    for r, row in enumerate(rows):
        i = 0
        while i < len(row):
            piece = row[i]
            value = _right(row, i) if piece.key or _row_label(row, i) else []
            if not value and piece.key:
                value = _below(rows, r, piece)
            if value and not any(id(v) in taken for v in value):
                taken.update(id(v) for v in value)
                out.append(_pair(piece, value))
                if value[-1] in row:
                    i = row.index(value[-1])
            i += 1
    out.extend(_column_pairs(rows))
    return out


def _pair(key: _Piece, value: Sequence[_Piece]) -> KeyValue:
    confidence = min(key.confidence, *(v.confidence for v in value))
    return KeyValue(
        Span(key.text, key.polygon),
        Span(" ".join(v.text for v in value), bbox_of([v.polygon for v in value])),
        confidence,
    )


def _row_label(row: Sequence[_Piece], i: int) -> bool:
    """Piece ``i`` labels what follows it on the row: words with no colon, then a value apart from it."""
    if i + 1 >= len(row) or not _label_like(row[i]) or row[i + 1].key:
        return False
    return not _label_like(row[i + 1]) or row[i + 1].x0 - row[i].x1 > _LABEL_GAP * row[i].height


def _header_row(row: Sequence[_Piece]) -> bool:
    return len(row) >= 2 and all(_label_like(p) and not p.key and len(p.text) <= 40 for p in row)


def _column_pairs(rows: Sequence[Sequence[_Piece]]) -> list[KeyValue]:
    """A table's column headers each paired with the cells under them, down to the table's end (a row whose
    parts stand under no header, or a wide vertical gap)."""
    out: list[KeyValue] = []
    r = 0
    while r < len(rows):
        head = rows[r]
        if not _header_row(head) or r + 1 >= len(rows):
            r += 1
            continue
        cells: list[tuple[_Piece, _Piece]] = []
        last_y = max(p.y1 for p in head)
        k = r + 1
        while k < len(rows) and k - r <= _MAX_TABLE_ROWS:
            row = rows[k]
            if min(p.y0 for p in row) - last_y > _TABLE_GAP * head[0].height or _header_row(row) and k > r + 1:
                break
            under = [(_column(head, p), p) for p in row]
            if sum(h is not None for h, _ in under) < max(1, len(row) // 2):
                break
            cells.extend((h, p) for h, p in under if h is not None and _value_like(p))
            last_y = max(p.y1 for p in row)
            k += 1
        if len({id(h) for h, _ in cells}) >= 2:
            out.extend(_pair(h, [p]) for h, p in cells)
            r = k
        else:
            r += 1
    return out


def _column(head: Sequence[_Piece], piece: _Piece) -> _Piece | None:
    """The header whose span covers the piece's centre most closely."""
    cx = (piece.x0 + piece.x1) / 2
    inside = [h for h in head if h.x0 - h.height <= cx <= h.x1 + h.height]
    return min(inside, key=lambda h: abs((h.x0 + h.x1) / 2 - cx)) if inside else None


def _right(row: Sequence[_Piece], i: int) -> list[_Piece]:
    """The pieces right of label ``i`` on its row, up to the next label or a wide gap."""
    out: list[_Piece] = []
    last = row[i]
    for piece in row[i + 1 :]:
        gap = piece.x0 - last.x1
        if piece.key or gap > _MAX_GAP * last.height:
            break
        if out and _label_like(piece) and not _value_like(piece) and gap > 2 * last.height:
            break  # the next label on the row
        out.append(piece)
        last = piece
    return out


def _below(rows: Sequence[Sequence[_Piece]], r: int, key: _Piece) -> list[_Piece]:
    """The piece right under the label (its left edge within the label's span), when nothing else is between."""
    if not key.key or r + 1 >= len(rows):
        return []
    for piece in rows[r + 1]:
        if piece.y0 - key.y1 > _BELOW_GAP * key.height:
            return []
        if piece.x0 < key.x1 and piece.x1 > key.x0 and not piece.key:
            return [piece]
    return []
