"""Form key -> value pairs: a printed label and the value that belongs to it.

A page's lines become rows of pieces (``pieces``). A label ends with a colon, or stands before a value apart from it
on its row (``Overall Length      84 mm``). Its value is the part right of it (with the lines that carry it on
under it), else (a colon label) the part right under it; a row label followed by numbers only is a table's row,
paired with each of them. Column headers over numbers are ``table_pairs``'. Tuned on one half of kv_funsd, checked
on the other (docs/fields.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_runtime.document.structure import bbox_of
from edge_runtime.fields.model import KeyValue, Span
from edge_runtime.fields.pieces import Piece, label_like, prose, row_pieces, value_like
from edge_runtime.fields.table_pairs import column_pairs
from edge_runtime.fields.text import Line

__all__ = ["form_pairs", "SET_NAME"]

SET_NAME = "form"
_MAX_GAP = 20.0  # line heights between a label and a value right of it on the row
_LABEL_GAP = 0.5  # line heights between a label without colon and a wordy value right of it
_NEXT_LABEL_GAP = 2.0  # line heights before a wordy part that starts the row's next label
_BELOW_GAP = 1.2  # line heights between a label and a value under it
_CONT_GAP = 0.8  # line heights between two lines of one value
_CONT_ALIGN = 1.5  # line heights two lines of one value may be apart at their left edges


def form_pairs(lines: Sequence[Line]) -> list[KeyValue]:
    """The key -> value pairs of a page's lines (sorted as ``text.lines_of`` gives them)."""
    rows = row_pieces(lines)
    out: list[KeyValue] = []
    taken: set[int] = set()  # pieces already given to a label as its value
    for r, row in enumerate(rows):
        i = 0
        while i < len(row):
            piece = row[i]
            value = _right(row, i) if piece.key or _row_label(row, i) else []
            if not value and piece.key:
                value = _below(rows, r, piece)
            if value and not any(id(v) in taken for v in value):
                taken.update(id(v) for v in value)
                if len(value) > 1 and all(value_like(v) for v in value):
                    out.extend(_pair(piece, [v]) for v in value)  # a table's row: its label and each cell
                else:
                    out.append(_pair(piece, [value[0], *_continued(rows, value[0], taken)]))
                if value[-1] in row:
                    i = row.index(value[-1])
            i += 1
    out.extend(column_pairs(rows, _pair))
    return out


def _pair(key: Piece, value: Sequence[Piece]) -> KeyValue:
    confidence = min(key.confidence, *(v.confidence for v in value))
    return KeyValue(
        Span(key.text, key.polygon),
        Span(" ".join(v.text for v in value), bbox_of([v.polygon for v in value])),
        confidence,
    )


def _row_label(row: Sequence[Piece], i: int) -> bool:
    """Piece ``i`` labels what follows it on the row: words with no colon (not running text), then a value apart
    from it and unlike it."""
    if i + 1 >= len(row) or not label_like(row[i]) or row[i + 1].key or prose(row[i]):
        return False
    if row[i].text.isupper() and row[i + 1].text.isupper():
        return False  # two capitalised parts: a heading (``LORILLARD   TOBACCO COMPANY``) or two column headers
    return not label_like(row[i + 1]) or row[i + 1].x0 - row[i].x1 > _LABEL_GAP * row[i].height


def _right(row: Sequence[Piece], i: int) -> list[Piece]:
    """The pieces right of label ``i`` on its row, up to the next label or a wide gap."""
    out: list[Piece] = []
    last = row[i]
    for piece in row[i + 1 :]:
        gap = piece.x0 - last.x1
        if piece.key or gap > _MAX_GAP * last.height:
            break
        if out and label_like(piece) and not value_like(piece) and gap > _NEXT_LABEL_GAP * last.height:
            break  # the next label on the row
        out.append(piece)
        last = piece
    return out


def _below(rows: Sequence[Sequence[Piece]], r: int, key: Piece) -> list[Piece]:
    """The piece right under the label (overlapping its span), when nothing else is between."""
    if not key.key or r + 1 >= len(rows):
        return []
    for piece in rows[r + 1]:
        if piece.y0 - key.y1 > _BELOW_GAP * key.height:
            return []
        if piece.x0 < key.x1 and piece.x1 > key.x0 and not piece.key:
            # a part that labels its own row (``Supplier(s)   Ecusta``) is a key under a heading, not its value
            return [] if _row_label(rows[r + 1], rows[r + 1].index(piece)) else [piece]
    return []


def _continued(rows: Sequence[Sequence[Piece]], value: Piece, taken: set[int]) -> list[Piece]:
    """The lines that carry a value on under it (a wrapped address or remark): starting where it starts, close
    under it, with nothing left of them on their row (that would be a label of their own)."""
    r = next((k for k, row in enumerate(rows) if any(p is value for p in row)), len(rows))
    out: list[Piece] = []
    last = value
    for row in rows[r + 1 :]:
        if row[0].y0 - last.y1 > _CONT_GAP * value.height:
            break
        under = [p for p in row if p.x1 > value.x0 - value.height and p.x0 < value.x1]
        if not under or abs(under[0].x0 - value.x0) > _CONT_ALIGN * value.height or under[0].key:
            break
        if id(under[0]) in taken or any(p.x1 <= under[0].x0 for p in row):
            break
        out.append(under[0])
        taken.add(id(under[0]))
        last = under[0]
    return out
