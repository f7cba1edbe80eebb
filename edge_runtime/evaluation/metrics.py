"""Accuracy figures exactly as ``shared/eval/README.md`` defines them, so our numbers compare with the peers'.

Pure functions over plain Python data: a polygon is a sequence of (x, y) points, a predicted line is
``(text, polygon)``. Per-image helpers return counts (not ratios) so a set's figure is the ratio of the
summed counts (micro average): images with many words weigh more, and images with nothing to find
contribute nothing rather than an undefined ratio.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.validation import make_valid

__all__ = [
    "Point",
    "PolygonLike",
    "Prediction",
    "WordCounts",
    "EditCounts",
    "CoverCounts",
    "normalize_words",
    "word_counts",
    "drop_dont_care",
    "levenshtein",
    "collapse_spaces",
    "reading_order",
    "text_in_reading_order",
    "cer_counts",
    "reading_order_ned",
    "coverage_counts",
    "exact_match",
    "plate_found",
    "f1",
    "ratio",
]

Point = tuple[float, float]
PolygonLike = Sequence[Sequence[float]]
Prediction = tuple[str, "PolygonLike | None"]


# ---- words ----------------------------------------------------------------------------------------------
def _is_punct(ch: str) -> bool:
    # Unicode punctuation (P*) and symbols (S*): covers all of string.punctuation ($ + < = > ^ ` | ~ are
    # symbols), and the peer figures in BASELINES.md strip arrows and the like too (checked on icdar15_toy).
    return unicodedata.category(ch)[0] in "PS"


def _strip_punct(word: str) -> str:
    start, end = 0, len(word)
    while start < end and _is_punct(word[start]):
        start += 1
    while end > start and _is_punct(word[end - 1]):
        end -= 1
    return word[start:end]


def normalize_words(text: str) -> list[str]:
    """Words of ``text``: split on white space, lower-cased, leading/trailing punctuation stripped.

    A token made only of punctuation becomes empty and is not a word.
    """
    words = (_strip_punct(token.lower()) for token in text.split())
    return [w for w in words if w]


@dataclass(frozen=True)
class WordCounts:
    """Multiset word matches of one or more images: F1 = 2·matched / (predicted + truth)."""

    matched: int = 0
    predicted: int = 0
    truth: int = 0

    def __add__(self, other: WordCounts) -> WordCounts:
        return WordCounts(self.matched + other.matched, self.predicted + other.predicted, self.truth + other.truth)

    @property
    def precision(self) -> float:
        return ratio(self.matched, self.predicted)

    @property
    def recall(self) -> float:
        return ratio(self.matched, self.truth)

    @property
    def f1(self) -> float:
        return f1(self.matched, self.predicted, self.truth)


def word_counts(predicted_texts: Iterable[str], truth_texts: Iterable[str]) -> WordCounts:
    """Order-free, granularity-free word-bag match of predicted lines against ground-truth lines."""
    pred = Counter(w for t in predicted_texts for w in normalize_words(t))
    truth = Counter(w for t in truth_texts for w in normalize_words(t))
    matched = sum((pred & truth).values())
    return WordCounts(matched, sum(pred.values()), sum(truth.values()))


def f1(matched: int, predicted: int, truth: int) -> float:
    """F1 from counts; 1.0 when there was nothing to find and nothing was found."""
    if predicted + truth == 0:
        return 1.0
    return 2.0 * matched / (predicted + truth)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 for an empty denominator."""
    return float(numerator) / denominator if denominator else 0.0


# ---- geometry -------------------------------------------------------------------------------------------
def _polygon(points: PolygonLike) -> BaseGeometry:
    """A valid shapely geometry for ``points`` (self-intersecting quads are repaired, not dropped)."""
    shape = Polygon([(float(x), float(y)) for x, y in points])
    return shape if shape.is_valid else make_valid(shape)


def _union(polygons: Iterable[PolygonLike]) -> BaseGeometry | None:
    shapes = [_polygon(p) for p in polygons]
    return unary_union(shapes) if shapes else None


def _share_inside(shape: BaseGeometry, region: BaseGeometry | None) -> float:
    """Fraction of ``shape``'s area that lies in ``region`` (0 for an empty shape or region)."""
    if region is None or shape.area <= 0:
        return 0.0
    return shape.intersection(region).area / shape.area


def drop_dont_care(predictions: Sequence[Prediction], dont_care: Sequence[PolygonLike]) -> list[Prediction]:
    """Predicted lines without those lying more than half inside the don't-care regions (taken together)."""
    region = _union(dont_care)
    if region is None:
        return list(predictions)
    return [(text, poly) for text, poly in predictions if poly is None or _share_inside(_polygon(poly), region) <= 0.5]


@dataclass(frozen=True)
class CoverCounts:
    """Detection by area coverage: ``found`` of ``truth`` regions, ``precise`` of ``predicted`` polygons."""

    found: int = 0
    truth: int = 0
    precise: int = 0
    predicted: int = 0

    def __add__(self, other: CoverCounts) -> CoverCounts:
        return CoverCounts(
            self.found + other.found,
            self.truth + other.truth,
            self.precise + other.precise,
            self.predicted + other.predicted,
        )

    @property
    def recall(self) -> float:
        return ratio(self.found, self.truth)

    @property
    def precision(self) -> float:
        return ratio(self.precise, self.predicted)


def coverage_counts(
    predicted: Sequence[PolygonLike], truth: Sequence[PolygonLike], dont_care: Sequence[PolygonLike] = ()
) -> CoverCounts:
    """A truth region is found when predicted polygons (together) cover at least half of its area; a
    predicted polygon is precise when at least half of its area lies in truth or don't-care regions.

    As for word F1, predicted polygons more than half inside the don't-care regions are dropped first
    (they are neither precise nor imprecise), and don't-care regions count neither as found nor missed.
    """
    region = _union(dont_care)
    predicted = [p for p in predicted if _share_inside(_polygon(p), region) <= 0.5]
    covered_by_pred = _union(predicted)
    found = sum(1 for t in truth if _share_inside(_polygon(t), covered_by_pred) >= 0.5)
    labelled = _union(list(truth) + list(dont_care))
    precise = sum(1 for p in predicted if _share_inside(_polygon(p), labelled) >= 0.5)
    return CoverCounts(found, len(truth), precise, len(predicted))


# ---- text in reading order ------------------------------------------------------------------------------
def collapse_spaces(text: str) -> str:
    """Every run of white space (newlines included) becomes one space; ends trimmed."""
    return " ".join(text.split())


def reading_order(polygons: Sequence[PolygonLike | None]) -> list[int]:
    """Indices of ``polygons`` top-to-bottom, then left-to-right.

    Lines whose vertical centres differ by less than half the smaller line height share a row, so a
    slightly higher word later in a row does not jump ahead. A missing polygon keeps its given place
    relative to the others only when all are missing.
    """
    if any(p is None for p in polygons):
        return list(range(len(polygons)))
    boxes = []
    for p in polygons:
        ys = [float(y) for _, y in p]  # type: ignore[union-attr]
        xs = [float(x) for x, _ in p]  # type: ignore[union-attr]
        boxes.append((min(ys), max(max(ys) - min(ys), 1.0), min(xs)))
    centre = [top + h / 2 for top, h, _ in boxes]
    order = sorted(range(len(boxes)), key=lambda i: (centre[i], boxes[i][2]))
    rows: list[list[int]] = []
    for i in order:
        if rows:
            first = rows[-1][0]
            if abs(centre[i] - centre[first]) < 0.5 * min(boxes[i][1], boxes[first][1]):
                rows[-1].append(i)
                continue
        rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda k: boxes[k][2])]


def text_in_reading_order(lines: Sequence[Prediction]) -> str:
    """The lines' texts joined in reading order, white space collapsed."""
    order = reading_order([poly for _, poly in lines])
    return collapse_spaces(" ".join(lines[i][0] for i in order))


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute, each cost 1); numpy rows keep page-long texts fast."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    bb = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    steps = np.arange(len(b) + 1, dtype=np.int64)
    previous = steps.copy()
    for i, ch in enumerate(a, start=1):
        cost = (bb != ord(ch)).astype(np.int64)
        current = np.empty_like(previous)
        current[0] = i
        # substitution / match and deletion, then insertions as a running minimum along the row:
        # current[j] = min_k<=j (candidate[k] + j - k)
        current[1:] = np.minimum(previous[:-1] + cost, previous[1:] + 1)
        current = np.minimum.accumulate(current - steps) + steps
        previous = current
    return int(previous[-1])


@dataclass(frozen=True)
class EditCounts:
    """Character edits against ground-truth length: CER = edits / truth_chars."""

    edits: int = 0
    truth_chars: int = 0

    def __add__(self, other: EditCounts) -> EditCounts:
        return EditCounts(self.edits + other.edits, self.truth_chars + other.truth_chars)

    @property
    def cer(self) -> float:
        return ratio(self.edits, self.truth_chars)


def cer_counts(predicted: str, truth: str) -> EditCounts:
    """Edits between two texts already in reading order (white space collapsed here)."""
    p, t = collapse_spaces(predicted), collapse_spaces(truth)
    return EditCounts(levenshtein(p, t), len(t))


def reading_order_ned(predicted: str, truth: str) -> float:
    """Reading-order NED: word-level edit distance / max(#predicted, #true words), words as for word F1.

    ``predicted`` is the page's text in the system's order (blocks, then lines, then words), ``truth`` the true
    blocks' texts joined in their order. 0 is the right words in the right order; 1 when nothing matches (or one
    side is empty and the other is not).
    """
    p, t = normalize_words(predicted), normalize_words(truth)
    if not p and not t:
        return 0.0
    ids: dict[str, int] = {}
    # each distinct word becomes one character (from the supplementary planes), so the character-level
    # Levenshtein above counts word edits
    p_chars = "".join(chr(0x10000 + ids.setdefault(w, len(ids))) for w in p)
    t_chars = "".join(chr(0x10000 + ids.setdefault(w, len(ids))) for w in t)
    return levenshtein(p_chars, t_chars) / max(len(p), len(t))


# ---- crops and plates -----------------------------------------------------------------------------------
def exact_match(predicted: str, truth: str) -> bool:
    """Word-crop match: case-insensitive, all white space removed, punctuation kept."""
    return re.sub(r"\s+", "", predicted).lower() == re.sub(r"\s+", "", truth).lower()


def _alnum(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def plate_found(predicted_texts: Sequence[str], plate: str) -> bool:
    """The plate's letters and digits appear, in order and contiguous, in the text read from the image.

    Lines are joined in the order given (pass them in reading order); case, spaces and punctuation ignored.
    """
    wanted = _alnum(plate)
    return bool(wanted) and wanted in _alnum("".join(predicted_texts))
