"""The document figures of ``shared/eval/README.md`` ("Document figures") for one read page of any system.

Reading-order NED and word F1 come from ``edge_runtime.evaluation.metrics``; block recall (IoU >= 0.5, one to one,
highest IoU first) is written here until the evaluation library has it (the team's synthetic-documents work may
move it there; then this module imports it instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import make_valid

from edge_runtime.evaluation.metrics import PolygonLike, WordCounts, reading_order_ned, word_counts

__all__ = ["BLOCK_IOU", "PageScore", "block_matches", "score_page", "box_polygon"]

BLOCK_IOU = 0.5  # a true block is found when one predicted block overlaps it by this IoU (README: >= 0.5)


@dataclass(frozen=True)
class PageScore:
    """One page read by one system: ``found`` of ``blocks`` true blocks (None: the system gives no blocks)."""

    ned: float
    words: WordCounts
    found: int | None
    blocks: int


def _shape(points: PolygonLike) -> BaseGeometry:
    shape = Polygon([(float(x), float(y)) for x, y in points])
    return shape if shape.is_valid else make_valid(shape)


def box_polygon(x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, float], ...]:
    """An axis-aligned box as a clockwise quad (``pdf_box`` rows and peers' boxes)."""
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def block_matches(predicted: Sequence[PolygonLike], truth: Sequence[PolygonLike], threshold: float = BLOCK_IOU) -> int:
    """How many true blocks are found: pairs with IoU >= ``threshold`` taken highest first, each block once."""
    pred = [_shape(p) for p in predicted if len(p) >= 3]
    true = [_shape(t) for t in truth]
    pairs = []
    for i, t in enumerate(true):
        for j, p in enumerate(pred):
            if not t.intersects(p):
                continue
            inter = t.intersection(p).area
            union = t.area + p.area - inter
            iou = inter / union if union > 0 else 0.0
            if iou >= threshold:
                pairs.append((iou, i, j))
    used_true: set[int] = set()
    used_pred: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_true and j not in used_pred:
            used_true.add(i)
            used_pred.add(j)
    return len(used_true)


def score_page(
    words: Sequence[str],
    truth_texts: Sequence[str],
    blocks: Sequence[PolygonLike] | None,
    truth_blocks: Sequence[PolygonLike],
) -> PageScore:
    """The page's words in the system's order against the true blocks' texts in reading order; ``blocks`` are the
    system's block polygons in the truth's coordinates (None when it has no blocks: recall is not given)."""
    predicted, truth = " ".join(words), " ".join(truth_texts)
    found = None if blocks is None else block_matches(blocks, truth_blocks)
    return PageScore(reading_order_ned(predicted, truth), word_counts([predicted], [truth]), found, len(truth_blocks))
