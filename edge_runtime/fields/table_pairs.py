"""A table's column headers paired with the numbers under them: FUNSD links every cell of a table to its header."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge_runtime.fields.model import KeyValue
from edge_runtime.fields.pieces import Piece, label_like, number_like, value_like

__all__ = ["column_pairs"]

_TABLE_GAP = 3.0  # line heights between two cells of one column
_MAX_TABLE_ROWS = 60  # rows a cell looks up for its header
_MAX_HEADER = 40  # characters of a column header


def column_pairs(rows: Sequence[Sequence[Piece]], pair: Callable[[Piece, Sequence[Piece]], KeyValue]) -> list[KeyValue]:
    """Each number-like cell paired with its column's header: the label straight above it with only cells between
    (each the one part of its row over the column), on a row made of labels only (a header row)."""
    out: list[KeyValue] = []
    for r, row in enumerate(rows):
        for cell in row:
            if cell.key or not number_like(cell):
                continue
            header = _header_over(rows, r, cell)
            if header is not None:
                out.append(pair(header, [cell]))
    return out


def _header_over(rows: Sequence[Sequence[Piece]], r: int, cell: Piece) -> Piece | None:
    last = cell
    for k in range(r - 1, max(-1, r - _MAX_TABLE_ROWS), -1):
        above = [p for p in rows[k] if p.x0 < last.x1 and p.x1 > last.x0]
        if not above:
            continue
        if len(above) > 1 or last.y0 - above[0].y1 > _TABLE_GAP * cell.height:
            return None
        top = above[0]
        if value_like(top) and not top.key:
            last = top  # another cell of the column
            continue
        if label_like(top) and len(top.text) <= _MAX_HEADER and _header_row(rows[k]):
            return top
        return None
    return None


def _header_row(row: Sequence[Piece]) -> bool:
    return len(row) >= 2 and all(label_like(p) and not p.key and len(p.text) <= _MAX_HEADER for p in row)
