"""Document figures exactly as ``shared/eval/README.md`` defines them ("Document figures"), for a read page against
a ``doc_`` row (``shared/eval/doc_columns`` or the rendered ``doc_synth``): reading-order NED, word F1 and block
recall, so tests and ``bench/`` score documents the same way.

A read page's blocks for block recall are its paragraphs (a heading, a list item and a running header are
paragraphs of their own): the truth's blocks are paragraph fragments, and the peers' figure is Tesseract's paragraphs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import make_valid

from edge_runtime.document.structure import BlockKind, Page
from edge_runtime.evaluation.metrics import WordCounts, reading_order, reading_order_ned, word_counts

__all__ = [
    "RUNNING",
    "PageScore",
    "rows",
    "truth_text",
    "page_text",
    "top_down_text",
    "paragraph_units",
    "truth_polygons",
    "match_blocks",
    "score_page",
]

RUNNING = ("header", "footer", "page_number")  # the truth's kinds for running headers, footers and page numbers
Polygon_ = Sequence[Sequence[float]]


def rows(root: Path) -> list[dict]:
    """The rows of a ``doc_`` set's ``labels.jsonl``, one per page, in file order."""
    text = (Path(root) / "labels.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def truth_text(blocks: Sequence[dict]) -> str:
    """The true blocks' texts joined in their (reading) order."""
    return " ".join(b["text"] for b in blocks)


def page_text(page: Page) -> str:
    """The page's words in its reading order: blocks, then paragraphs, lines and words."""
    return " ".join(w.text for w in page.words())


def top_down_text(page: Page) -> str:
    """The same lines read top to bottom, each row left to right: what a flat line list gives (the baseline)."""
    lines = [ln for b in page.blocks for p in b.paragraphs for ln in p.lines]
    return " ".join(lines[i].text for i in reading_order([ln.polygon for ln in lines]))


def paragraph_units(page: Page) -> list[tuple[BlockKind, tuple[tuple[float, float], ...]]]:
    """Each paragraph's polygon with its block's kind: the page's blocks as block recall counts them."""
    return [(b.kind, p.polygon) for b in page.blocks for p in b.paragraphs if len(p.polygon) >= 3]


def truth_polygons(blocks: Sequence[dict], key: str = "points", scale: tuple[float, float] = (1.0, 1.0)) -> list:
    """The true blocks' polygons: their ``points`` quads, or their ``pdf_box`` as a rectangle, times ``scale`` (the
    page image's pixels per label unit in x and y: a PDF page rendered at ``dpi`` has dpi/72 per point)."""
    sx, sy = scale
    out = []
    for block in blocks:
        if key == "pdf_box":
            x0, y0, x1, y1 = block["pdf_box"]
            points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        else:
            points = block[key]
        out.append([(float(x) * sx, float(y) * sy) for x, y in points])
    return out


def _shape(points: Polygon_) -> BaseGeometry:
    shape = Polygon([(float(x), float(y)) for x, y in points])
    return shape if shape.is_valid else make_valid(shape)


def match_blocks(truth: Sequence[Polygon_], predicted: Sequence[Polygon_], least: float = 0.5) -> dict[int, int]:
    """One-to-one matches, highest IoU first, of true to predicted polygons with IoU >= ``least``: truth -> pred."""
    pairs = []
    shapes = [_shape(p) for p in predicted]
    for t, points in enumerate(truth):
        shape = _shape(points)
        for k, other in enumerate(shapes):
            if shape.intersects(other):
                union = shape.union(other).area
                value = shape.intersection(other).area / union if union > 0 else 0.0
                if value >= least:
                    pairs.append((value, t, k))
    matched: dict[int, int] = {}
    used: set[int] = set()
    for _, t, k in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        if t not in matched and k not in used:
            matched[t] = k
            used.add(k)
    return matched


@dataclass(frozen=True)
class PageScore:
    """One page's figures: reading-order NED (ours and the lines-top-to-bottom baseline), the word counts behind
    word F1, and block recall's counts; ``kinds`` gives, for each true block index found, the kind it was read as."""

    ned: float
    top_down_ned: float
    words: WordCounts
    blocks: int
    found: int
    kinds: dict[int, BlockKind] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.found / self.blocks if self.blocks else 1.0


def score_page(
    page: Page, row: dict, key: str = "points", scale: tuple[float, float] = (1.0, 1.0), least: float = 0.5
) -> PageScore:
    """Score a read ``page`` against its label ``row`` (``key`` and ``scale`` as for ``truth_polygons``)."""
    blocks = row["blocks"]
    truth = truth_text(blocks)
    units = paragraph_units(page)
    matched = match_blocks(truth_polygons(blocks, key, scale), [poly for _, poly in units], least)
    return PageScore(
        ned=reading_order_ned(page_text(page), truth),
        top_down_ned=reading_order_ned(top_down_text(page), truth),
        words=word_counts([page_text(page)], [truth]),
        blocks=len(blocks),
        found=len(matched),
        kinds={t: units[k][0] for t, k in matched.items()},
    )
