"""A table region's words cut into rows x columns of cells, from word alignment alone (no table model).

Why not SLANet-plus: the ``rapid-table`` wheel (3.0.2) carries no model file, it downloads its models at run time,
which the bundle rules forbid. The page's own words are already read; what a table needs is where its rows and
columns are:

- rows: words whose vertical extents overlap (half the smaller height) share a row; a sweep down the page;
- columns: the x-gutters that no word of the rows crosses, widths above ``gutter`` median word heights; a gutter
  crossed by only a few rows (a title row, a merged cell) is still a column boundary and those words span it;
- cells: in each row, words that fall between the same two boundaries form one cell; a word over a boundary makes
  its cell span the columns it covers; grid positions left over are empty cells.

Where the table is ruled (the page image is given), its rules decide instead: vertical rules that run through
the table are the column boundaries, a boundary whose rule is missing in a row is spanned there (a group header);
horizontal rules, when they part the rows, join the word rows between two rules into one row (a cell whose text
wraps). Row spans are not found (a cell that spans rows reads as its first row and empty cells under it). Bounded:
the words are sorted once, the rules found by two morphological openings of the table's crop, and a grid over
``MAX_CELLS`` positions is refused with ``TABLE_TOO_LARGE``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge_runtime.document.structure import DocWord, Table, TableCell
from edge_runtime.types import Point

__all__ = ["TableParams", "Rules", "find_rules", "build_table", "MAX_CELLS", "MAX_WORDS"]

MAX_CELLS = 20_000  # grid positions (rows x columns) a table may have; more is refused, the block keeps its text
MAX_WORDS = 20_000  # words a table region may hold


@dataclass(frozen=True)
class TableParams:
    """Thresholds in median word heights (``h``)."""

    gutter: float = 0.6  # narrowest white space between two columns
    crossing: float = 0.25  # a gutter crossed by at most this share of the rows is still a boundary
    row_overlap: float = 0.5  # share of the smaller height two words overlap vertically to share a row
    rule_length: float = 1.5  # shortest vertical rule, in h (a letter's stroke is shorter than h)
    rule_width: float = 3.0  # shortest horizontal rule, in h (a dash, an underline under a word is shorter)


@dataclass(frozen=True)
class Rules:
    """A table's ruling lines in page pixels: vertical as (x, y0, y1), horizontal as (y, x0, x1)."""

    vertical: tuple[tuple[float, float, float], ...] = ()
    horizontal: tuple[tuple[float, float, float], ...] = ()


def _segments(mask: np.ndarray, vertical: bool) -> list[tuple[float, float, float]]:
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for x, y, w, h, _ in stats[1:count]:
        out.append((x + w / 2, float(y), float(y + h)) if vertical else (y + h / 2, float(x), float(x + w)))
    return out


def find_rules(
    image: np.ndarray, region: tuple[float, float, float, float], h: float, p: TableParams | None = None
) -> Rules:
    """The ruling lines inside ``region`` of a BGR page image: dark runs at least ``rule_length`` h tall (vertical)
    or ``rule_width`` h wide (horizontal), found by opening the binarised crop with a line-shaped kernel."""
    p = p or TableParams()
    x0, y0 = max(0, int(region[0]) - 4), max(0, int(region[1]) - 4)
    x1, y1 = min(image.shape[1], int(region[2]) + 5), min(image.shape[0], int(region[3]) + 5)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return Rules()
    crop = image[y0:y1, x0:x1]
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    ink = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    tall = max(3, int(p.rule_length * h))
    wide = max(3, int(p.rule_width * h))
    vmask = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, tall)))
    hmask = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (wide, 1)))
    vertical = tuple((x + x0, a + y0, b + y0) for x, a, b in _segments(vmask, True))
    horizontal = tuple((y + y0, a + x0, b + x0) for y, a, b in _segments(hmask, False))
    return Rules(vertical, horizontal)


@dataclass(frozen=True)
class _Box:
    word: DocWord
    x0: float
    y0: float
    x1: float
    y1: float


def _box(word: DocWord) -> _Box:
    xs = [x for x, _ in word.polygon]
    ys = [y for _, y in word.polygon]
    return _Box(word, min(xs), min(ys), max(xs), max(ys))


def _rows(boxes: list[_Box], overlap: float) -> list[list[_Box]]:
    """Words into rows, top to bottom, each row's words left to right."""
    rows: list[list[_Box]] = []
    top = bottom = 0.0
    for b in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        if rows:
            shared = min(bottom, b.y1) - max(top, b.y0)
            if shared >= overlap * min(bottom - top, b.y1 - b.y0):
                rows[-1].append(b)
                top, bottom = min(top, b.y0), max(bottom, b.y1)
                continue
        rows.append([b])
        top, bottom = b.y0, b.y1
    return [sorted(r, key=lambda b: b.x0) for r in rows]


def _row_spans(row: list[_Box]) -> list[tuple[float, float]]:
    """The x-extents a row covers, touching words merged."""
    spans: list[tuple[float, float]] = []
    for b in row:  # sorted by x0
        if spans and b.x0 <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b.x1))
        else:
            spans.append((b.x0, b.x1))
    return spans


def _boundaries(rows: list[list[_Box]], h: float, p: TableParams) -> list[float]:
    """Column boundaries: the middles of the x-gutters that at most ``crossing`` of the rows cross."""
    events: list[tuple[float, int]] = []
    for row in rows:
        for x0, x1 in _row_spans(row):
            events += [(x0, 1), (x1, -1)]
    events.sort()
    allowed = int(p.crossing * len(rows)) if len(rows) >= 4 else 0
    out: list[float] = []
    depth, start = 0, None
    left = events[0][0]
    right = events[-1][0]
    for x, step in events:
        was_open = depth <= allowed
        depth += step
        if depth <= allowed and not was_open:
            start = x
        elif depth > allowed and was_open and start is not None:
            if x - start >= p.gutter * h and left < start and x < right:
                out.append((start + x) / 2)
            start = None
    return out


def _col(x: float, bounds: Sequence[float]) -> int:
    lo, hi = 0, len(bounds)
    while lo < hi:
        mid = (lo + hi) // 2
        if bounds[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _rect(x0: float, y0: float, x1: float, y1: float) -> tuple[Point, ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _ruled_bounds(rules: Rules, rows: list[list[_Box]], h: float) -> list[float]:
    """Column boundaries from the vertical rules between the words' left and right ends, close ones merged."""
    left = min(b.x0 for r in rows for b in r)
    right = max(b.x1 for r in rows for b in r)
    xs = sorted(x for x, _, _ in rules.vertical if left + h / 4 < x < right - h / 4)
    out: list[float] = []
    for x in xs:
        if out and x - out[-1] < h:
            continue
        out.append(x)
    return out


def _closed(rules: Rules, x: float, top: float, bottom: float, h: float) -> bool:
    """Whether a vertical rule at ``x`` runs through the row from ``top`` to ``bottom``."""
    mid = (top + bottom) / 2
    return any(abs(rx - x) < h / 2 and a <= mid <= b for rx, a, b in rules.vertical)


def _join_ruled_rows(rows: list[list[_Box]], rules: Rules, h: float) -> list[list[_Box]]:
    """Word rows with no horizontal rule between them joined into one row, when rules part the other rows."""
    if len(rows) < 2:
        return rows
    ys = [y for y, _, _ in rules.horizontal]

    def ruled(above: list[_Box], below: list[_Box]) -> bool:
        low, high = max(b.y1 for b in above) - h / 4, min(b.y0 for b in below) + h / 4
        return any(low <= y <= high for y in ys)

    parted = [ruled(rows[i], rows[i + 1]) for i in range(len(rows) - 1)]
    if sum(parted) < max(1, len(parted) // 2):  # rules under a header only (booktabs), or none: rows as they are
        return rows
    joined = [list(rows[0])]
    for row, cut in zip(rows[1:], parted, strict=True):
        if cut:
            joined.append(list(row))
        else:
            joined[-1].extend(row)
    return [sorted(r, key=lambda b: b.x0) for r in joined]


def build_table(
    words: Sequence[DocWord],
    region: tuple[float, float, float, float],
    image: np.ndarray | None = None,
    p: TableParams | None = None,
) -> Table:
    """The table in ``region`` (x0, y0, x1, y1, page pixels) from the words read inside it; with the page
    ``image``, its ruling lines where it has them."""
    p = p or TableParams()
    polygon = _rect(*region)
    if len(words) > MAX_WORDS:
        return Table(0, 0, (), polygon, "TABLE_TOO_LARGE")
    boxes = [b for b in map(_box, words) if b.x1 > b.x0 and b.y1 > b.y0]
    if not boxes:
        return Table(0, 0, (), polygon)
    h = max(1.0, statistics.median(b.y1 - b.y0 for b in boxes))
    rows = _rows(boxes, p.row_overlap)
    rules = find_rules(image, region, h, p) if image is not None else Rules()
    bounds = _ruled_bounds(rules, rows, h) if rules.vertical else []
    ruled = bool(bounds)
    if ruled:
        rows = _join_ruled_rows(rows, rules, h)
    else:
        bounds = _boundaries(rows, h, p)
    n_cols = len(bounds) + 1
    if len(rows) * n_cols > MAX_CELLS:
        return Table(0, 0, (), polygon, "TABLE_TOO_LARGE")
    # the grid's lines: column edges at the boundaries, row edges half way between rows
    xs = [region[0], *bounds, region[2]]
    tops = [min(b.y0 for b in r) for r in rows]
    bottoms = [max(b.y1 for b in r) for r in rows]
    ys = [region[1], *((bottoms[i] + tops[i + 1]) / 2 for i in range(len(rows) - 1)), region[3]]
    cells: list[TableCell] = []
    for r, row in enumerate(rows):
        groups: list[tuple[int, int, list[_Box]]] = []
        top, bottom = min(b.y0 for b in row), max(b.y1 for b in row)
        open_at = {i for i, x in enumerate(bounds) if rules.vertical and not _closed(rules, x, top, bottom, h)}
        for b in row:
            m = min(h / 2, (b.x1 - b.x0) / 2)  # a word that only touches a boundary does not span it
            c0, c1 = _col(b.x0 + m, bounds), _col(b.x1 - m, bounds)
            while c0 - 1 in open_at:  # no rule on its left in this row: the cell spans on
                c0 -= 1
            while c1 in open_at:
                c1 += 1
            if groups and c0 <= groups[-1][1]:
                first, last, members = groups[-1]
                groups[-1] = (first, max(last, c1), [*members, b])
            else:
                groups.append((c0, max(c0, c1), [b]))
        taken: set[int] = set()
        for c0, c1, members in groups:
            text = " ".join(m.word.text for m in sorted(members, key=lambda m: (round(m.y0 / h), m.x0)))
            conf = sum(m.word.confidence for m in members) / len(members)
            cells.append(TableCell(r, c0, 1, c1 - c0 + 1, text, conf, _rect(xs[c0], ys[r], xs[c1 + 1], ys[r + 1])))
            taken.update(range(c0, c1 + 1))
        for c in range(n_cols):
            if c not in taken:
                cells.append(TableCell(r, c, 1, 1, "", 0.0, _rect(xs[c], ys[r], xs[c + 1], ys[r + 1])))
    cells.sort(key=lambda c: (c.row, c.col))
    return Table(len(rows), n_cols, tuple(cells), polygon, ruled=ruled)
