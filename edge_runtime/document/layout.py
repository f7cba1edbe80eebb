"""Page structure from a page's lines: blocks in reading order, paragraphs, and the break after each word.

Design: a recursive XY-cut over line boxes, with one guard for forms and receipts.

- The lines are first turned into the text's own frame: the mean direction of their top edges (the polygons run
  clockwise from the text's top-left) gives the page's rotation and skew, and every box is measured after undoing
  it, so rotated and slightly skewed scans cut like straight ones.
- A region splits into columns at vertical white-space gutters that no line crosses, but only when every side
  looks like running text (several lines, many words, wide): a receipt's items and amounts, or a form's labels and
  values, have a gutter too, and must stay one visual row each.
- Where no column split holds, the region splits into horizontal strips at the white space between lines.
  Consecutive strips that together split into columns form one column region (a two-column body whose paragraph
  gaps happen to line up stays one region, read column by column); the others (a full-width title, an abstract)
  are read top to bottom, each visual row left to right. A very large gap (a figure) ends a column region, and so
  does a heading in one column where the other columns stop just above it and resume just below it (balanced
  columns restarting under a section heading).
- Lines read at a right angle to the page (a side label) stay out of the cut and follow the flow, each on its own.
- A column counts its words by visual row (the detector may cut a justified line into pieces), and a line that
  the detector joined across a gutter, which the other lines leave empty, is cut there first.
- Each column, and each full-width run between column regions, is a block; a block's lines split into paragraphs at
  vertical gaps wider than its line spacing, at an indented first line, where the line height changes, or after a
  line that ends with room to spare for the next line's first word (the writer broke it there).
- The first paragraph of the page, when it is a few lines in larger print than the body, is the page's TITLE block.
- Running headers, footers and page numbers are the rows in the top and bottom bands set apart from the body by a
  gap (page numbers by their text as well); ``confirm_running`` marks the same text at the same place on several
  pages of a document.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from edge_runtime.document.structure import (
    Block,
    BlockKind,
    Break,
    DocLine,
    DocWord,
    Page,
    Paragraph,
    TextSource,
    bbox_of,
)
from edge_runtime.types import Point, TextLine, Word

__all__ = ["LayoutParams", "build_page", "confirm_running", "is_page_number", "words_of"]


@dataclass(frozen=True)
class LayoutParams:
    """Thresholds, in median line heights (``h``) or page fractions; the defaults fit print and receipts."""

    gutter: float = 0.9  # narrowest white space between columns, in h
    sparse: float = 0.25  # a gutter that a few lines cross: covered by under this share of the usual lines
    column_width: float = 8.0  # narrowest column, in h
    column_words: float = 3.0  # median words per row a column needs (items and amounts have fewer)
    column_lines: int = 2  # lines a column needs
    figure_gap: float = 4.0  # a vertical gap this tall (in h) ends a column region
    band: float = 0.1  # top and bottom bands where headers, footers and page numbers live, page fraction
    running_gap: float = 1.0  # white space between a header/footer row and the body, in h
    running_height: float = 1.15  # a header/footer row is no taller than this many h (a title is)
    running_small: float = 0.85  # a row this much smaller than the body needs only a little gap (0.3 h)
    running_part: float = 3.0  # white space inside a header/footer line that sets two of its parts apart, in h
    paragraph_gap: float = 0.5  # extra gap over the block's usual line gap that starts a paragraph, in h
    indent: float = 0.9  # first-line indentation that starts a paragraph, in h
    height_change: float = 1.3  # line height ratio that starts a paragraph (a heading)
    pitch: float = 1.25  # line pitch, over the block's usual, that starts a paragraph
    title_height: float = 1.25  # the first paragraph in print this much taller than the body is the page's title
    title_lines: int = 3  # a title has at most this many lines
    room: float = 1.0  # room left at the end of a line, beyond the next row's first word, that ends a paragraph (h)


_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|p\.|seite|pág\.?|página)\s*)?[-–—(\[]?\s*(?:\d{1,4}|(?=[ivxl])(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3}))"
    r"\s*[-–—)\]]?"
    r"(?:\s*(?:of|/|von|de)\s*\d{1,4})?$",
    re.IGNORECASE,
)


def is_page_number(text: str) -> bool:
    """``3``, ``Page 3``, ``- 3 -``, ``3 / 12``, ``xiv``: a line that is only a page number."""
    return bool(_PAGE_NUMBER.match(text.strip()))


# ---- the text's own frame -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Line:
    """A line with its box in the text's frame (x to the right along the text, y down the page)."""

    index: int
    line: TextLine
    words: tuple[Word, ...]
    x0: float
    y0: float
    x1: float
    y1: float
    first: float = 0.0  # the width of its first word

    @property
    def height(self) -> float:
        """The polygon's own height (mean of its left and right sides): a slanted line is no taller."""
        poly = self.line.polygon
        if len(poly) != 4:
            return self.y1 - self.y0
        (ax, ay), (bx, by), (cx, cy), (dx, dy) = poly
        return (math.hypot(dx - ax, dy - ay) + math.hypot(cx - bx, cy - by)) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


def _page_angle(lines: Sequence[TextLine]) -> float:
    """The mean reading direction of the lines (radians), weighted by length: rotation plus skew."""
    sx = sy = 0.0
    for line in lines:
        if len(line.polygon) >= 2:
            (ax, ay), (bx, by) = line.polygon[0], line.polygon[1]
            sx, sy = sx + (bx - ax), sy + (by - ay)
    return math.atan2(sy, sx) if sx or sy else 0.0


class _Frame:
    """Rotation between the page image and the text's frame."""

    def __init__(self, angle: float) -> None:
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        self.quarter = round(math.degrees(angle) / 90) % 4 * 90  # the reading direction, to a right angle

    def to_text(self, p: Point) -> Point:
        x, y = p
        return (x * self.cos + y * self.sin, -x * self.sin + y * self.cos)

    def to_page(self, p: Point) -> Point:
        x, y = p
        return (x * self.cos - y * self.sin, x * self.sin + y * self.cos)

    def box(self, polygon: Sequence[Point]) -> tuple[float, float, float, float]:
        pts = [self.to_text(p) for p in polygon]
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        return min(xs), min(ys), max(xs), max(ys)

    def rect(self, polygons: Sequence[Sequence[Point]]) -> tuple[Point, ...]:
        """The rectangle around ``polygons`` in the text's frame, back in page pixels (clockwise from top-left)."""
        pts = [self.to_text(p) for poly in polygons for p in poly]
        if not pts:
            return ()
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        return tuple(self.to_page(p) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


def _turned(line: TextLine, angle: float) -> bool:
    """Whether the line reads at more than 45 degrees from the page's direction. Only a line clearly longer than
    tall says so: the direction of a short one (a lone digit) is the recognizer's guess."""
    if len(line.polygon) != 4:
        return False
    (ax, ay), (bx, by), _, (dx, dy) = line.polygon
    if math.hypot(bx - ax, by - ay) < 2 * math.hypot(dx - ax, dy - ay):
        return False
    diff = math.atan2(by - ay, bx - ax) - angle
    return abs(math.atan2(math.sin(diff), math.cos(diff))) > math.pi / 4


def words_of(line: TextLine) -> tuple[Word, ...]:
    """The line's words; a line without them is cut along its top and bottom edges by character count."""
    if line.words:
        return tuple(w for w in line.words if w.text.strip())
    tokens = line.text.split()
    if not tokens or len(line.polygon) != 4:
        return tuple(Word(t, line.confidence, line.polygon) for t in tokens)
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = line.polygon
    total = len(" ".join(tokens))
    words, start = [], 0
    for token in tokens:
        f0, f1 = start / total, (start + len(token)) / total
        top0, top1 = (ax + (bx - ax) * f0, ay + (by - ay) * f0), (ax + (bx - ax) * f1, ay + (by - ay) * f1)
        bot0, bot1 = (dx + (cx - dx) * f0, dy + (cy - dy) * f0), (dx + (cx - dx) * f1, dy + (cy - dy) * f1)
        words.append(Word(token, line.confidence, (top0, top1, bot1, bot0)))
        start += len(token) + 1
    return tuple(words)


def _split_across_gutters(
    lines: Sequence[tuple[TextLine, tuple[Word, ...]]], frame: _Frame, p: LayoutParams, by_words: bool = False
) -> list[tuple[TextLine, tuple[Word, ...]]]:
    """Lines cut where they cross a column gutter through a wide word gap: the detector sometimes joins the lines
    of two columns. A gutter is a stretch of x that few lines cover between stretches that many lines cover (the
    word gaps of justified text can be as wide as a gutter, so a gap alone proves nothing).

    ``by_words``: count what the words cover instead, for a PDF text layer, whose word boxes are exact and whose
    lines may all run across the columns (a PDF that draws each baseline across the page, columns interleaved, is
    extracted as one line per baseline: no line leaves a gutter uncovered)."""
    boxes = [frame.box(ln.polygon) for ln, _ in lines]
    if len(boxes) < 8:
        return list(lines)
    h = max(1.0, statistics.median(b[3] - b[1] for b in boxes))
    covering = [frame.box(w.polygon) for _, words in lines for w in words] if by_words else boxes
    x0, x1 = math.floor(min(b[0] for b in covering)), math.ceil(max(b[2] for b in covering))
    cover = [0] * (x1 - x0 + 2)
    for b in covering:
        cover[int(b[0]) - x0] += 1
        cover[int(b[2]) - x0 + 1] -= 1
    running, counts = 0, []
    for c in cover[:-1]:
        running += c
        counts.append(running)
    usual = statistics.median(c for c in counts if c > 0)
    low = [c < p.sparse * usual for c in counts]
    gutters: list[float] = []  # centres of sparse stretches at least a gutter wide, inside the covered span
    k = 0
    while k < len(low):
        if low[k]:
            m = k
            while m < len(low) and low[m]:
                m += 1
            if k > 0 and m < len(low) and m - k >= p.gutter * h:
                gutters.append(x0 + (k + m) / 2)
            k = m
        else:
            k += 1
    if not gutters:
        return list(lines)
    out: list[tuple[TextLine, tuple[Word, ...]]] = []
    for (line, words), box in zip(lines, boxes, strict=True):
        wb = [frame.box(w.polygon) for w in words]
        least = p.gutter * max(h, box[3] - box[1])  # a title's word spaces are wider than a body's gutter
        cuts = {
            k
            for k in range(1, len(words))
            for g in gutters
            if wb[k - 1][2] < g < wb[k][0] and wb[k][0] - wb[k - 1][2] >= least
        }
        if not cuts or len(line.polygon) != 4:
            out.append((line, words))
            continue
        bounds = [0, *sorted(cuts), len(words)]
        for first, end in zip(bounds, bounds[1:], strict=False):
            ws = words[first:end]
            polygon: tuple[Point, ...] = frame.rect([w.polygon for w in ws])
            if len(ws[0].polygon) == 4 and len(ws[-1].polygon) == 4:
                polygon = (ws[0].polygon[0], ws[-1].polygon[1], ws[-1].polygon[2], ws[0].polygon[3])
            out.append((TextLine(" ".join(w.text for w in ws), line.confidence, polygon, ws, line.angle), ws))
    return out


def _baselines(line: TextLine, words: tuple[Word, ...], frame: _Frame) -> list[tuple[TextLine, tuple[Word, ...]]]:
    """A text-layer line cut where its next word does not sit on the same baseline or goes back to the left: a PDF
    that draws the columns' lines interleaved by height is extracted with the words of several lines in one (whose
    first and last words may even make it look turned). The pieces read the page's way."""
    if len(words) < 2 or len(line.polygon) != 4:
        return [(line, words)]
    boxes = [frame.box(w.polygon) for w in words]
    cuts = []
    for k in range(1, len(words)):
        (_, ay0, a1, ay1), (b0, by0, _, by1) = boxes[k - 1], boxes[k]
        overlap = min(ay1, by1) - max(ay0, by0)
        if overlap < 0.5 * min(ay1 - ay0, by1 - by0) or b0 < a1 - 0.5 * (ay1 - ay0):
            cuts.append(k)
    if not cuts:
        return [(line, words)]
    out = []
    bounds = [0, *cuts, len(words)]
    for first, end in zip(bounds, bounds[1:], strict=False):
        ws = tuple(replace(w, polygon=frame.rect([w.polygon])) for w in words[first:end])  # started at its top-left
        polygon = frame.rect([w.polygon for w in ws])
        out.append((TextLine(" ".join(w.text for w in ws), line.confidence, polygon, ws, frame.quarter), ws))
    return out


def _width(words: Sequence[Word], frame: _Frame) -> float:
    if not words:
        return 0.0
    x0, _, x1, _ = frame.box(words[0].polygon)
    return x1 - x0


# ---- reading order --------------------------------------------------------------------------------------
def _rows(lines: Sequence[_Line]) -> list[list[_Line]]:
    """Visual rows: lines whose vertical centres are within half a line height, each row left to right."""
    rows: list[list[_Line]] = []
    for ln in sorted(lines, key=lambda k: (k.cy, k.x0)):
        if rows:
            first = rows[-1][0]
            if abs(ln.cy - first.cy) < 0.5 * min(ln.height, first.height):
                rows[-1].append(ln)
                continue
        rows.append([ln])
    return [sorted(row, key=lambda k: k.x0) for row in rows]


def _gaps(spans: Sequence[tuple[float, float]], least: float) -> list[tuple[float, float]]:
    """White space between the covered ``spans`` (inside their extent) at least ``least`` wide."""
    gaps = []
    ordered = sorted(spans)
    reach = ordered[0][1]
    for a, b in ordered[1:]:
        if a - reach >= least:
            gaps.append((reach, a))
        reach = max(reach, b)
    return gaps


class _Cutter:
    def __init__(self, h: float, params: LayoutParams) -> None:
        self.h, self.p = h, params

    def _is_column(self, lines: Sequence[_Line]) -> bool:
        rows = _rows(lines)  # the detector may cut a justified line into pieces: count words by visual row
        if len(rows) < self.p.column_lines:
            return False
        width = max(ln.x1 for ln in lines) - min(ln.x0 for ln in lines)
        words = statistics.median(sum(len(ln.words) for ln in row) for row in rows)
        return width >= self.p.column_width * self.h and words >= self.p.column_words

    def columns(self, lines: Sequence[_Line]) -> list[list[_Line]] | None:
        """The region's columns, left to right, when its gutters separate running text; else None."""
        if len(lines) < 2 * self.p.column_lines:
            return None
        gutters = _gaps([(ln.x0, ln.x1) for ln in lines], self.p.gutter * self.h)
        if not gutters:
            return None
        for cuts in [gutters] + [[g] for g in sorted(gutters, key=lambda g: g[0] - g[1])]:
            sides: list[list[_Line]] = [[] for _ in range(len(cuts) + 1)]
            for ln in lines:
                sides[sum(1 for a, _ in cuts if ln.x0 >= a)].append(ln)
            if all(self._is_column(side) for side in sides):
                return sides
            if len(gutters) == 1:
                break
        return None

    def strips(self, lines: Sequence[_Line]) -> list[list[_Line]]:
        """Horizontal strips, top to bottom, split where no line covers a stretch of the page's height."""
        ordered = sorted(lines, key=lambda k: k.y0)
        strips: list[list[_Line]] = [[ordered[0]]]
        reach = ordered[0].y1
        for ln in ordered[1:]:
            # lines that overlap by under a third of the smaller height are still separate (skew, descenders)
            if ln.y0 > reach - min(ln.height, self.h) / 3:
                strips.append([])
            strips[-1].append(ln)
            reach = max(reach, ln.y1)
        return strips

    def blocks(self, lines: Sequence[_Line]) -> list[list[_Line]]:
        """The region's blocks in reading order, each block's lines in reading order."""
        if not lines:
            return []
        cols = self.columns(lines)
        strips = self.strips(lines)
        if cols is not None and not any(
            self._spans(strips[k], cols, strips[:k], strips[k + 1 :]) for k in range(1, len(strips) - 1)
        ):
            return [block for col in cols for block in self.blocks(col)]
        if len(strips) == 1:
            return [[ln for row in _rows(lines) for ln in row]]
        out: list[list[_Line]] = []
        run: list[_Line] = []  # full-width strips read top to bottom
        i = 0
        while i < len(strips):
            group, j = list(strips[i]), i + 1
            while j < len(strips) and self._close(group, strips[j]):
                sides = self.columns(group + strips[j])
                if sides is None or self._spans(strips[j], sides, [group], strips[j + 1 :]):
                    break
                group += strips[j]
                j += 1
            if j > i + 1 or self.columns(group) is not None:
                if run:
                    out.append([ln for row in _rows(run) for ln in row])
                    run = []
                whole = i == 0 and j == len(strips)  # the same region again: split its columns, never loop
                sides = self.columns(group) if whole else None
                out.extend(self.blocks(group) if sides is None else [b for col in sides for b in self.blocks(col)])
            else:
                run += group
            i = j
        if run:
            out.append([ln for row in _rows(run) for ln in row])
        return out

    def _spans(
        self,
        strip: Sequence[_Line],
        sides: Sequence[Sequence[_Line]],
        above: Sequence[Sequence[_Line]],
        below: Sequence[Sequence[_Line]],
    ) -> bool:
        """Whether ``strip`` (a short heading of a line or two in one column) spans the page in effect: the other
        columns stop just above it and resume just below it, as where balanced columns restart under a heading.

        A heading inside a column has the neighbour column's text beside it; the short last line of a paragraph
        follows the line above it at the column's line spacing (a heading has white space above it); the end of a
        short last column does not resume; a figure in the neighbour column leaves a far taller gap above.
        """
        if len(strip) > 2:
            return False
        ranges = [(min(ln.x0 for ln in side), max(ln.x1 for ln in side)) for side in sides]

        def inside(ln: _Line, r: tuple[float, float]) -> bool:
            return ln.x0 < r[1] and ln.x1 > r[0]

        own = [r for r in ranges if any(inside(ln, r) for ln in strip)]
        if len(own) != 1:
            return False
        if max(ln.x1 for ln in strip) - min(ln.x0 for ln in strip) > 0.75 * (own[0][1] - own[0][0]):
            return False  # a heading is short; a line of text beside a gap in the next column fills its column
        top, bottom = min(ln.y0 for ln in strip), max(ln.y1 for ln in strip)
        if self._runs_on([ln for part in above for ln in part if inside(ln, own[0])], top):
            return False
        tight_above = False
        for r in ranges:
            if r == own[0]:
                continue
            ends = [ln.y1 for part in above for ln in part if inside(ln, r)]
            starts = [ln.y0 for part in below for ln in part if inside(ln, r)]
            if not ends or not starts or min(starts) - bottom > 2 * self.h:
                return False
            if min(starts) - max(ends) < bottom - top + 0.25 * self.h:  # only a paragraph gap beside a line
                return False
            tight_above = tight_above or top - max(ends) <= 2 * self.h
        return tight_above  # balanced columns may end unevenly above; one of them ends just above

    def _runs_on(self, column: Sequence[_Line], top: float) -> bool:
        """Whether a line at ``top`` follows the column's text above it at the column's own line spacing (a
        paragraph's last line does; a heading has white space above it)."""
        rows = _rows(column)
        if not rows:
            return False
        tops = [min(ln.y0 for ln in row) for row in rows]
        bottoms = [max(ln.y1 for ln in row) for row in rows]
        gaps = [g for g in (tops[k] - bottoms[k - 1] for k in range(1, len(rows))) if g < self.h]
        usual = max(0.0, statistics.median(gaps)) if gaps else 0.0
        return top - max(bottoms) <= usual + 0.25 * self.h

    def _close(self, above: Sequence[_Line], below: Sequence[_Line]) -> bool:
        return min(ln.y0 for ln in below) - max(ln.y1 for ln in above) < self.p.figure_gap * self.h


# ---- paragraphs and breaks ------------------------------------------------------------------------------
def _paragraphs(block: Sequence[_Line], h: float, params: LayoutParams) -> list[list[list[_Line]]]:
    """The block's rows grouped into paragraphs: a paragraph is a list of rows, a row a list of lines."""
    rows = _keep_order(block, _rows(block))
    if not rows:
        return []
    left, right = min(ln.x0 for ln in block), max(ln.x1 for ln in block)
    tops = [min(ln.y0 for ln in row) for row in rows]
    bottoms = [max(ln.y1 for ln in row) for row in rows]
    heights = [statistics.median(ln.height for ln in row) for row in rows]
    gaps = [tops[k] - bottoms[k - 1] for k in range(1, len(rows))]
    usual = statistics.median(gaps) if len(gaps) >= 2 else min(gaps, default=0.0)
    usual = max(0.0, min(usual, 0.6 * h))
    centres = [(tops[k] + bottoms[k]) / 2 for k in range(len(rows))]
    pitches = [centres[k] - centres[k - 1] for k in range(1, len(rows))]
    pitch = statistics.median(pitches) if len(pitches) >= 3 else math.inf
    paragraphs: list[list[list[_Line]]] = [[rows[0]]]
    for k in range(1, len(rows)):
        gap = tops[k] - bottoms[k - 1]
        ratio = max(heights[k], heights[k - 1]) / max(1.0, min(heights[k], heights[k - 1]))
        indented = (
            len(rows[k]) == 1
            and rows[k][0].x0 - left > params.indent * h
            and min(ln.x0 for ln in rows[k - 1]) - left < 0.5 * h
            and len(rows) > 2
        )
        # the line before ends with room for this row's first word: the writer broke it (a paragraph's last line)
        room = right - max(ln.x1 for ln in rows[k - 1])
        short = len(rows) > 2 and room > rows[k][0].first + params.room * h
        wide = pitches[k - 1] > params.pitch * pitch and gap > usual + 0.2 * h  # more than the usual line spacing
        if gap > usual + params.paragraph_gap * h or wide or ratio > params.height_change or indented or short:
            paragraphs.append([])
        paragraphs[-1].append(rows[k])
    return paragraphs


def _keep_order(block: Sequence[_Line], rows: list[list[_Line]]) -> list[list[_Line]]:
    """Rows in the block's order (the cutter already ordered the block; rows only group adjacent lines)."""
    position = {ln.index: k for k, ln in enumerate(block)}
    return sorted(rows, key=lambda row: min(position[ln.index] for ln in row))


_HYPHENS = ("-", "\u00ad", "\u2010")


def _breaks(rows: Sequence[Sequence[Sequence[Word]]]) -> list[list[list[Break]]]:
    """The break after each word of a paragraph given as rows of lines of words (the last is PARAGRAPH)."""
    out: list[list[list[Break]]] = []
    flat = [(r, k) for r, row in enumerate(rows) for k in range(len(row))]
    for r, row in enumerate(rows):
        out.append([])
        for k, words in enumerate(row):
            brks = [Break.SPACE] * len(words)
            if words:
                pos = flat.index((r, k))
                if pos == len(flat) - 1:
                    brks[-1] = Break.PARAGRAPH
                elif k < len(row) - 1:
                    brks[-1] = Break.SPACE  # the next line is on the same visual row
                else:
                    nr, nk = flat[pos + 1]
                    following = rows[nr][nk]
                    last = words[-1].text
                    nxt = following[0].text if following else ""
                    hyphen = last.endswith(_HYPHENS) and len(last) > 1 and nxt[:1].islower()
                    brks[-1] = Break.HYPHEN if hyphen else Break.LINE
            out[-1].append(brks)
    return out


def _doc_line(ln: _Line, brks: Sequence[Break]) -> DocLine:
    words = tuple(DocWord(w.text, w.confidence, w.polygon, b) for w, b in zip(ln.words, brks, strict=True))
    return DocLine(ln.line.text, ln.line.confidence, ln.line.polygon, words, ln.line.angle)


def _paragraph(rows: Sequence[Sequence[_Line]], frame: _Frame) -> Paragraph:
    brks = _breaks([[ln.words for ln in row] for row in rows])
    lines = tuple(_doc_line(ln, b) for row, rb in zip(rows, brks, strict=True) for ln, b in zip(row, rb, strict=True))
    return Paragraph(lines, frame.rect([ln.polygon for ln in lines]))


# ---- running headers, footers, page numbers -------------------------------------------------------------
def _running(lines: list[_Line], top: float, bottom: float, h: float, p: LayoutParams) -> tuple[list, list, list]:
    """Split off the header row(s) at the top and footer row(s) at the bottom: (header, body, footer)."""
    rows = _rows(lines)
    band = p.band * (bottom - top)
    head: list[_Line] = []
    foot: list[_Line] = []

    def apart(row: list[_Line], neighbour: list[_Line] | None, above: bool) -> bool:
        if neighbour is None:
            return False
        if above:
            gap = min(ln.y0 for ln in neighbour) - max(ln.y1 for ln in row)
        else:
            gap = min(ln.y0 for ln in row) - max(ln.y1 for ln in neighbour)
        if all(is_page_number(ln.line.text) for ln in row):
            return gap >= 0.5 * h
        tallest = max(ln.height for ln in row)
        if tallest <= p.running_small * h:  # smaller print than the body: a little white space sets it apart
            return gap >= 0.3 * h
        return tallest <= p.running_height * h and gap >= p.running_gap * h

    if len(rows) >= 4 and min(ln.y0 for ln in rows[0]) - top < band and apart(rows[0], rows[1], True):
        head = rows.pop(0)
    if len(rows) >= 3 and bottom - max(ln.y1 for ln in rows[-1]) < band and apart(rows[-1], rows[-2], False):
        foot = rows.pop()
    taken = {ln.index for ln in head + foot}
    return head, [ln for ln in lines if ln.index not in taken], foot


def _parts(ln: _Line, h: float, frame: _Frame, p: LayoutParams) -> list[_Line]:
    """A header or footer line cut where its words lie far apart: a PDF text layer gives a title at the left and a
    page number at the right as one line when they share a baseline, and they are two running blocks."""
    boxes = [frame.box(w.polygon) for w in ln.words]
    cuts = [k for k in range(1, len(boxes)) if boxes[k][0] - boxes[k - 1][2] > p.running_part * h]
    if not cuts:
        return [ln]
    out = []
    bounds = [0, *cuts, len(ln.words)]
    for first, end in zip(bounds, bounds[1:], strict=False):
        ws = ln.words[first:end]
        polygon = frame.rect([w.polygon for w in ws])
        line = TextLine(" ".join(w.text for w in ws), ln.line.confidence, polygon, ws, ln.line.angle)
        out.append(_Line(ln.index, line, ws, *frame.box(polygon), _width(ws, frame)))
    return out


def _running_block(ln: _Line, kind: BlockKind, frame: _Frame) -> Block:
    kind = BlockKind.PAGE_NUMBER if is_page_number(ln.line.text) else kind
    para = _paragraph([[ln]], frame)
    return Block(kind, (para,), para.polygon)


# ---- the page -------------------------------------------------------------------------------------------
def _finite(polygon: Sequence[Point]) -> bool:
    return all(math.isfinite(x) and math.isfinite(y) for x, y in polygon)


def build_page(
    lines: Sequence[TextLine],
    width: int,
    height: int,
    number: int = 1,
    source: TextSource = TextSource.OCR,
    dpi: float = 0.0,
    params: LayoutParams | None = None,
) -> Page:
    """The page's structure from its lines (OCR's, or a PDF text layer's in the same shape), in reading order.

    Lines may come in any order; their polygons are in page pixels, clockwise from the text's top-left, so a
    rotated page (every line at 90, 180 or 270 degrees) is laid out in its own frame. The words of the result are
    the lines' words (a line without words is cut into words by its text).
    """
    p = params or LayoutParams()
    # a line without text or without a finite box has no place in an order (a hostile raw result, a model's NaN)
    kept = [ln for ln in lines if ln.text.strip() and len(ln.polygon) >= 2 and _finite(ln.polygon)]
    if not kept:
        return Page(number, width, height, (), source, dpi)
    angle = _page_angle(kept)
    typed = source is not TextSource.OCR  # a PDF text layer's lines: exact word boxes, but lines as drawn
    if typed:
        square = _Frame(math.radians(_Frame(angle).quarter))  # its boxes are upright in the page's quarter turn
        kept = [piece for ln in kept for piece, _ in _baselines(ln, words_of(ln), square)]
        angle = _page_angle(kept)
    frame = _Frame(angle)
    across = [ln for ln in kept if _turned(ln, angle)]  # a side label read at a right angle to the page
    upright = [(ln, words_of(ln)) for ln in kept if not _turned(ln, angle)]
    pieces = _split_across_gutters(upright, frame, p, by_words=typed)
    flow = len(pieces)
    pieces += [(ln, words_of(ln)) for ln in across]
    boxed = [_Line(i, ln, words, *frame.box(ln.polygon), _width(words, frame)) for i, (ln, words) in enumerate(pieces)]
    aside = sorted((ln for ln in boxed[flow:] if ln.words), key=lambda k: (k.y0, k.x0))
    boxed = [ln for ln in boxed[:flow] if ln.words]
    if not boxed:
        boxed, aside = aside, []
    if not boxed:
        return Page(number, width, height, (), source, dpi)
    h = max(1.0, statistics.median(ln.height for ln in boxed))
    corners = [frame.to_text(c) for c in ((0.0, 0.0), (width, 0.0), (width, height), (0.0, height))]
    top, bottom = min(y for _, y in corners), max(y for _, y in corners)
    head, body, foot = _running(boxed, top, bottom, h, p)
    blocks = [_running_block(part, BlockKind.HEADER, frame) for ln in head for part in _parts(ln, h, frame, p)]
    groups = _Cutter(h, p).blocks(body)
    for k, group in enumerate(groups):
        grouped = _paragraphs(group, h, p)
        if k == 0 and (len(grouped) > 1 or len(groups) > 1) and _is_title(grouped[0], h, p):
            title = _paragraph(grouped[0], frame)
            blocks.append(Block(BlockKind.TITLE, (title,), title.polygon))
            grouped = grouped[1:]
            if not grouped:
                continue
        paras = tuple(_paragraph(rows, frame) for rows in grouped)
        blocks.append(Block(BlockKind.TEXT, paras, frame.rect([para.polygon for para in paras])))
    for ln in aside:  # after the flow, each on its own
        para = _paragraph([[ln]], frame)
        blocks.append(Block(BlockKind.TEXT, (para,), para.polygon))
    blocks += [_running_block(part, BlockKind.FOOTER, frame) for ln in foot for part in _parts(ln, h, frame, p)]
    return Page(number, width, height, _end_page(blocks), source, dpi)


def _is_title(rows: Sequence[Sequence[_Line]], h: float, p: LayoutParams) -> bool:
    """The page's first paragraph is its title when it is a line or a few in larger print than the body."""
    lines = [ln for row in rows for ln in row]
    return len(rows) <= p.title_lines and statistics.median(ln.height for ln in lines) >= p.title_height * h


def _end_page(blocks: Sequence[Block]) -> tuple[Block, ...]:
    """The blocks with the page's last word followed by nothing."""
    if not blocks or not blocks[-1].paragraphs:
        return tuple(blocks)
    last_block = blocks[-1]
    para = last_block.paragraphs[-1]
    line = para.lines[-1]
    if not line.words:
        return tuple(blocks)
    words = line.words[:-1] + (replace(line.words[-1], brk=Break.NONE),)
    para = replace(para, lines=para.lines[:-1] + (replace(line, words=words),))
    return (*blocks[:-1], replace(last_block, paragraphs=last_block.paragraphs[:-1] + (para,)))


# ---- several pages --------------------------------------------------------------------------------------
def _running_key(text: str) -> str:
    if is_page_number(text):
        return "#page#"
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def confirm_running(pages: Sequence[Page], band: float = 0.12, least: int = 2, place: float = 0.03) -> list[Page]:
    """Mark as header, footer or page number every single-line block in a page's top or bottom band whose text
    (digits masked) appears at the same place (within ``place`` of the page height) on at least ``least`` pages,
    and move it to the page's start
    or end; text blocks that only begin or end with such a line keep their place (the line is split off).

    A per-page guess sees one page; the same text in the same place across a document is the firmer sign.
    """
    places: dict[tuple[str, bool], dict[int, float]] = {}
    for number, page in enumerate(pages):
        for key, top, y in _band_lines(page, band):
            places.setdefault((key, top), {}).setdefault(number, y)  # each page counts once
    seen: dict[tuple[str, bool], float] = {}
    for where, at in places.items():
        middle = statistics.median(at.values())
        if sum(1 for y in at.values() if abs(y - middle) <= place) >= least:
            seen[where] = middle
    return [_mark(page, band, place, seen) for page in pages]


def _band_lines(page: Page, band: float) -> list[tuple[str, bool, float]]:
    out = []
    for block in page.blocks:
        for para in block.paragraphs:
            for line in para.lines:
                ys = [y for _, y in line.polygon]
                if not ys or not page.height:
                    continue
                cy = (min(ys) + max(ys)) / 2 / page.height
                if cy < band or cy > 1 - band:
                    out.append((_running_key(line.text), cy < band, cy))
    return out


def _mark(page: Page, band: float, place: float, seen: dict[tuple[str, bool], float]) -> Page:
    if not page.height:
        return page
    heads: list[Block] = []
    feet: list[Block] = []
    body: list[Block] = []
    for block in _reopen(page.blocks):
        kept_paras: list[Paragraph] = []
        for para in block.paragraphs:
            kept: list[DocLine] = []
            for line in para.lines:
                ys = [y for _, y in line.polygon]
                cy = (min(ys) + max(ys)) / 2 / page.height if ys else 0.5
                top = cy < band
                at = seen.get((_running_key(line.text), top))
                running = (cy < band or cy > 1 - band) and at is not None and abs(cy - at) <= place
                if running:
                    kind = BlockKind.HEADER if top else BlockKind.FOOTER
                    if is_page_number(line.text):
                        kind = BlockKind.PAGE_NUMBER
                    one = _single(line)
                    (heads if top else feet).append(Block(kind, (one,), one.polygon))
                else:
                    kept.append(line)
            if kept == list(para.lines):
                kept_paras.append(para)
            elif kept:
                kept_paras.append(_rebreak(kept))
        if not kept_paras:
            continue
        if tuple(kept_paras) != block.paragraphs:
            block = replace(block, paragraphs=tuple(kept_paras), polygon=bbox_of([p.polygon for p in kept_paras]))
        if block.kind in (BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER):
            ys = [y for _, y in block.polygon]
            (heads if ys and (min(ys) + max(ys)) / 2 < page.height / 2 else feet).append(block)
        else:
            body.append(block)
    blocks = _end_page([*heads, *body, *feet])
    return replace(page, blocks=blocks) if blocks != page.blocks else page


def _reopen(blocks: Sequence[Block]) -> list[Block]:
    """The blocks with the page's end (a NONE break) turned back into a paragraph's end, before they move."""
    out = []
    for block in blocks:
        paras = []
        for para in block.paragraphs:
            lines = []
            for line in para.lines:
                words = tuple(replace(w, brk=Break.PARAGRAPH) if w.brk is Break.NONE else w for w in line.words)
                lines.append(line if words == line.words else replace(line, words=words))
            paras.append(replace(para, lines=tuple(lines)))
        out.append(replace(block, paragraphs=tuple(paras)))
    return out


def _single(line: DocLine) -> Paragraph:
    words = line.words[:-1] + (replace(line.words[-1], brk=Break.PARAGRAPH),) if line.words else ()
    return Paragraph((replace(line, words=words),), bbox_of([line.polygon]))


def _rebreak(lines: Sequence[DocLine]) -> Paragraph:
    """A paragraph whose first or last line was taken out: the new last word ends the paragraph."""
    last = lines[-1]
    words = last.words[:-1] + (replace(last.words[-1], brk=Break.PARAGRAPH),) if last.words else ()
    lines = [*lines[:-1], replace(last, words=words)]
    return Paragraph(tuple(lines), bbox_of([ln.polygon for ln in lines]))
