"""The document figures of ``shared/eval/README.md`` ("Document figures") for the peers' pages, which are words and
boxes rather than our ``Page``: the same NED, word F1 and one-to-one block matching that
``edge_runtime.evaluation.documents`` scores our pages with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_runtime.evaluation.documents import match_blocks
from edge_runtime.evaluation.metrics import PolygonLike, WordCounts, reading_order_ned, word_counts

__all__ = ["BLOCK_IOU", "PeerScore", "box_polygon", "score_words"]

BLOCK_IOU = 0.5  # a true block is found when one predicted block overlaps it by this IoU (README: >= 0.5)


@dataclass(frozen=True)
class PeerScore:
    """One page read by one system: ``found`` of ``blocks`` true blocks (None: the system gives no blocks)."""

    ned: float
    words: WordCounts
    found: int | None
    blocks: int


def box_polygon(x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, float], ...]:
    """An axis-aligned box as a clockwise quad (``pdf_box`` rows and peers' boxes)."""
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def score_words(
    words: Sequence[str],
    truth_texts: Sequence[str],
    blocks: Sequence[PolygonLike] | None,
    truth_blocks: Sequence[PolygonLike],
) -> PeerScore:
    """The page's words in the system's order against the true blocks' texts in reading order; ``blocks`` are the
    system's block polygons in the truth's coordinates (None when it has no blocks: recall is not given)."""
    predicted, truth = " ".join(words), " ".join(truth_texts)
    found = None if blocks is None else len(match_blocks(truth_blocks, blocks, BLOCK_IOU))
    return PeerScore(reading_order_ned(predicted, truth), word_counts([predicted], [truth]), found, len(truth_blocks))
