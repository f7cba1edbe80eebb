"""Layout regions laid over a page built from its lines: each paragraph takes the kind of the region it lies in,
the lines inside a table region become one TABLE block with its cells.

The reading order stays the text layout's (``layout.build_page``: XY-cut, columns, running headers): the regions
only name what each part is and cut a block where its kind changes, so the order measured without layout is kept.
Of the model's title regions, the first, when nothing of the flow precedes it, is the page's TITLE; the rest are
section HEADINGs (the CDLA classes have no heading), and so is a one-line text paragraph of a few words in print
taller than the page's body. A model's header or footer counts only in the page's top or
bottom band, where a running header can be. A figure or formula region whose words line up as a grid is read as
a table (the model often names a ruled table so), and so is a text region whose words make a stricter grid (3 x 3
or more, cells of a word or two: an unruled table).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from edge_runtime.document.layout_model import Region
from edge_runtime.document.structure import Block, BlockKind, DocLine, Page, Paragraph, bbox_of
from edge_runtime.document.tables import build_table

__all__ = ["apply_regions", "MIN_SHARE", "BAND"]

MIN_SHARE = 0.5  # share of a paragraph's (a line's) box inside a region for it to belong there
BAND = 0.12  # top and bottom page fraction where a model's header or footer is believed
MAX_REGIONS = 200  # regions used per page, best scores first (a hostile page can make the model fire everywhere)
MAX_GRID_CHECKS = 8  # figure/formula regions, and text regions, tried as tables per page, best scores first
# A region read as a table when its words make a grid of at least (rows, columns), this share of cells filled, at most
# this median of words a filled cell: loose for figure and formula regions, strict for text regions.
GRID = (2, 2, 0.6, 4)
GRID_TEXT = (3, 3, 0.8, 2)
HEADING_WORDS = 6  # a section heading the model missed: one line of at most this many words ...
HEADING_HEIGHT = 1.18  # ... in print this much taller than the page's median line
PROSE_WORDS = 4  # a model's unruled table region whose filled cells hold this many words (median) is prose
_RUNNING = (BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER)
_MAYBE_TABLE = (BlockKind.FIGURE, BlockKind.FORMULA, BlockKind.TEXT)

Box = tuple[float, float, float, float]


def _bounds(polygon: Sequence[tuple[float, float]]) -> Box:
    xs = [x for x, _ in polygon]
    ys = [y for _, y in polygon]
    return min(xs), min(ys), max(xs), max(ys)


def _share(inner: Box, outer: Box) -> float:
    """The share of ``inner``'s area inside ``outer``."""
    w = min(inner[2], outer[2]) - max(inner[0], outer[0])
    h = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = max(1e-6, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return max(0.0, w) * max(0.0, h) / area if w > 0 and h > 0 else 0.0


def _best(box: Box, regions: Sequence[Region]) -> int | None:
    """The index of the region holding ``MIN_SHARE`` of ``box`` or more, by share x score (vectorised: a page may
    have thousands of paragraphs)."""
    if not regions:
        return None
    r = np.array([reg.box for reg in regions], np.float64)
    w = np.minimum(box[2], r[:, 2]) - np.maximum(box[0], r[:, 0])
    h = np.minimum(box[3], r[:, 3]) - np.maximum(box[1], r[:, 1])
    share = np.clip(w, 0, None) * np.clip(h, 0, None) / max(1e-6, (box[2] - box[0]) * (box[3] - box[1]))
    score = np.where(share >= MIN_SHARE, share * np.array([reg.score for reg in regions]), -1.0)
    i = int(np.argmax(score))
    return i if score[i] >= 0 else None


def _line_height(line: DocLine) -> float:
    if len(line.polygon) != 4:
        return 0.0
    (ax, ay), _, _, (dx, dy) = line.polygon
    return math.hypot(dx - ax, dy - ay)


def _kind(paragraph: Paragraph, regions: Sequence[Region], default: BlockKind, height: int, body: float) -> BlockKind:
    i = _best(_bounds(paragraph.polygon), regions)
    kind = default if i is None else regions[i].kind
    if kind is BlockKind.TEXT and default is BlockKind.TITLE:
        return default  # the text layout saw larger print; the model's text regions often swallow a title
    if kind is BlockKind.TEXT and _is_heading(paragraph, body):
        return BlockKind.HEADING  # ... and a section heading
    if i is None:
        return default
    _, y0, _, y1 = _bounds(paragraph.polygon)
    if kind is BlockKind.HEADER and y1 > BAND * height or kind is BlockKind.FOOTER and y0 < (1 - BAND) * height:
        return BlockKind.TEXT
    return kind


def _is_heading(paragraph: Paragraph, body: float) -> bool:
    """A paragraph of one short line in print taller than the page's body text."""
    if len(paragraph.lines) != 1 or body <= 0:
        return False
    line = paragraph.lines[0]
    return len(line.words) <= HEADING_WORDS and _line_height(line) >= HEADING_HEIGHT * body


def _covered(region: Region, by: Sequence[Region]) -> bool:
    return any(_share(region.box, other.box) >= MIN_SHARE for other in by if other is not region)


def _grids(page: Page, candidates: Sequence[Region], image: np.ndarray | None) -> list[Region]:
    """The regions whose words line up as a table: a ruled figure or formula region (the CDLA model often calls a
    ruled table an equation or a figure) by the loose test, any other (text: its guess for an unruled table) by
    the strict one, so that prose, columns of prose, a receipt's items and amounts and a label: value list stay."""
    found = []
    words = [w for b in page.blocks if b.kind not in _RUNNING for p in b.paragraphs for ln in p.lines for w in ln.words]
    for region in candidates:
        inside = [w for w in words if _share(_bounds(w.polygon), region.box) >= MIN_SHARE]
        if len(inside) < 4:
            continue
        table = build_table(inside, region.box, image)
        loose = table.ruled and region.kind is not BlockKind.TEXT
        least_rows, least_cols, filled_share, most_words = GRID if loose else GRID_TEXT
        filled = [c for c in table.cells if c.text]
        if (
            not table.error
            and table.rows >= least_rows
            and table.cols >= least_cols
            and len(filled) >= filled_share * table.rows * table.cols
            and statistics.median(len(c.text.split()) for c in filled) <= most_words
        ):
            found.append(replace(region, kind=BlockKind.TABLE))
    return found


def _prose(page: Page, tables: Sequence[Region], image: np.ndarray | None) -> list[Region]:
    """The model's table regions that hold running text (columns of prose it took for a table): their cells would
    be whole lines, ``PROSE_WORDS`` words or more a cell (median)."""
    words = [w for b in page.blocks if b.kind not in _RUNNING for p in b.paragraphs for ln in p.lines for w in ln.words]
    out = []
    for region in tables[:MAX_GRID_CHECKS]:
        inside = [w for w in words if _share(_bounds(w.polygon), region.box) >= MIN_SHARE]
        table = build_table(inside, region.box, image)
        filled = [c for c in table.cells if c.text]
        if not table.ruled and filled and statistics.median(len(c.text.split()) for c in filled) >= PROSE_WORDS:
            out.append(region)
    return out


def _merged(tables: list[Region]) -> list[Region]:
    """Table regions that overlap joined into one (the model's table and a grid found in a text region over it)."""
    out: list[Region] = []
    for region in sorted(tables, key=lambda r: -r.score):
        for i, kept in enumerate(out):
            a, b = kept.box, region.box
            if min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                out[i] = replace(kept, box=box)
                break
        else:
            out.append(region)
    return out


def apply_regions(page: Page, regions: Sequence[Region], image: np.ndarray | None = None) -> Page:
    """``page`` with its blocks named by ``regions`` (page pixels) and its table regions cut into cells (by their
    ruling lines where the page ``image`` is given and the table is ruled)."""
    if page.error or not page.blocks or not regions:
        return page
    regions = sorted(regions, key=lambda r: -r.score)[:MAX_REGIONS]
    tables = [r for r in regions if r.kind is BlockKind.TABLE]
    tables = [r for r in tables if r not in _prose(page, tables, image)]
    maybe = [r for r in regions if r.kind in _MAYBE_TABLE and not _covered(r, tables)]
    loose = [r for r in maybe if r.kind is not BlockKind.TEXT][:MAX_GRID_CHECKS]
    maybe = loose + [r for r in maybe if r.kind is BlockKind.TEXT][:MAX_GRID_CHECKS]
    tables = _merged([*tables, *_grids(page, maybe, image)])
    others = [r for r in regions if r.kind is not BlockKind.TABLE and not _covered(r, tables)]
    heights = [_line_height(ln) for b in page.blocks if b.kind not in _RUNNING for p in b.paragraphs for ln in p.lines]
    body = statistics.median(heights) if heights else 0.0
    items: list[tuple[int, BlockKind, Paragraph] | int] = []  # (block, kind, paragraph), a table, -1 - a running block
    table_lines: dict[int, list[DocLine]] = {}
    for n, block in enumerate(page.blocks):
        if block.kind in _RUNNING:
            items.append(-1 - n)  # kept whole, as the text layout marked it
            continue
        for para in block.paragraphs:
            rest = []
            for line in para.lines:
                t = _best(_bounds(line.polygon), tables)
                if t is None:
                    rest.append(line)
                    continue
                if t not in table_lines:
                    table_lines[t] = []
                    items.append(t)
                table_lines[t].append(line)
            if rest:
                whole = len(rest) == len(para.lines)
                kept = para if whole else Paragraph(tuple(rest), bbox_of([ln.polygon for ln in rest]))
                items.append((n, _kind(kept, others, block.kind, page.height, body), kept))
    return replace(page, blocks=tuple(_blocks(page, items, tables, table_lines, image)))


def _blocks(
    page: Page,
    items: Sequence[tuple[int, BlockKind, Paragraph] | int],
    tables: Sequence[Region],
    table_lines: dict[int, list[DocLine]],
    image: np.ndarray | None,
) -> list[Block]:
    """Consecutive paragraphs of one source block and one kind joined into a block; titles after the first, or
    after the flow has begun, are headings."""
    out: list[Block | tuple[BlockKind, list[Paragraph]]] = []  # a block made, or one being gathered
    last: tuple[int, BlockKind] | None = None
    flow_started = titled = False
    for item in items:
        if isinstance(item, int):
            if item < 0:  # a running header, footer or page number
                out.append(page.blocks[-1 - item])
                last = None
                continue
            lines = table_lines[item]
            region = tables[item]
            words = [w for ln in lines for w in ln.words]
            paras = tuple(Paragraph((ln,), ln.polygon) for ln in lines)
            box = region.box
            rect = ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))
            out.append(Block(BlockKind.TABLE, paras, rect, build_table(words, box, image)))
            last, flow_started = None, True
            continue
        source, kind, para = item
        if kind is BlockKind.TITLE and (flow_started or titled):
            kind = BlockKind.HEADING
        titled = titled or kind is BlockKind.TITLE
        if kind not in _RUNNING and kind is not BlockKind.TITLE:
            flow_started = True
        gathering = out[-1] if out and last == (source, kind) else None
        if isinstance(gathering, tuple):
            gathering[1].append(para)
        else:
            out.append((kind, [para]))
        last = (source, kind)
    return [b if isinstance(b, Block) else Block(b[0], tuple(b[1]), bbox_of([p.polygon for p in b[1]])) for b in out]
