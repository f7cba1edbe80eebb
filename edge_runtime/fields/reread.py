"""A second reading of a receipt's header lines, where the company and address are printed: each line cut again
with a margin and with its contrast stretched, and the reading that two of the three agree on kept.

The header's text must be read exactly, and there the detector's tight box clips a comma or a letter's edge
(``SS15/4D`` for ``SS15/4D,``) and faint thermal print blurs letters together (``ENWHARDWARE``). A vote, not the
recognizer's confidence, decides: a confident misreading is common, two crops misreading alike are not.
Measured with ``python -m bench.fields --reread`` (docs/fields.md); it costs two recognizer passes over at most
``HEADER_LINES`` lines of a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_runtime.geometry import crop_quad
from edge_runtime.recognize import Reading, words_of
from edge_runtime.types import RawImage, TextLine, Word

if TYPE_CHECKING:
    from edge_runtime.pipeline import ImageInput, OcrEngine, Steps

__all__ = ["HEADER_LINES", "margin_quad", "stretched", "vote", "reread_steps", "reread_source_steps", "reread_header"]

HEADER_LINES = 16  # the lines, top down, that hold a receipt's company and address (receipt.HEADER_LINES + rows)
_MARGIN = (0.3, 0.15)  # along and across the line, in line heights: the padded cut
_STRETCH_MARGIN = (0.2, 0.1)  # the contrast-stretched cut


def margin_quad(quad: np.ndarray, along: float, across: float) -> np.ndarray:
    """``quad`` (top-left, top-right, bottom-right, bottom-left in reading direction) grown by ``along`` line
    heights at each end and ``across`` line heights above and below."""
    tl, tr, br, bl = quad.astype(np.float32)
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    u = (tr - tl) / max(float(np.linalg.norm(tr - tl)), 1e-6)
    v = (bl - tl) / max(float(np.linalg.norm(bl - tl)), 1e-6)
    a, c = along * height * u, across * height * v
    return np.array([tl - a - c, tr + a - c, br + a + c, bl - a + c], np.float32)


def stretched(crop: np.ndarray) -> np.ndarray:
    """The crop in gray, its darkest pixel black and its lightest white (faded print made dark again)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    gray = cv2.normalize(gray, np.zeros_like(gray), 0, 255, cv2.NORM_MINMAX)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def vote(readings: Sequence[tuple[str, float]]) -> int:
    """The index of the reading most of ``readings`` (text, confidence) agree on, the higher summed confidence
    between equally backed texts; 0 (the first, the line as read) when no two agree."""
    backing: dict[str, tuple[int, float]] = {}
    for text, confidence in readings:
        n, total = backing.get(text, (0, 0.0))
        backing[text] = (n + 1, total + confidence)
    best = max(backing, key=lambda t: backing[t])
    if backing[best][0] < 2:
        return 0
    return next(i for i, (text, _) in enumerate(readings) if text == best)


def _header(lines: Sequence[TextLine]) -> list[int]:
    """Indices of the top ``HEADER_LINES`` lines, in the order ``text.lines_of`` sorts them."""

    def key(i: int) -> tuple[float, float]:
        ys, xs = [p[1] for p in lines[i].polygon], [p[0] for p in lines[i].polygon]
        return ((min(ys) + max(ys)) / 2, min(xs))

    usable = [i for i, ln in enumerate(lines) if len(ln.polygon) == 4 and ln.text.strip()]
    return sorted(usable, key=key)[:HEADER_LINES]


def _words(reading: Reading, frame: np.ndarray) -> tuple[Word, ...]:
    """The reading's words placed on ``frame``, the quad its crop was cut from."""
    tl, tr, br, bl = frame
    out = []
    for text, score, start, end in words_of(reading):
        a, b = tl + (tr - tl) * start, tl + (tr - tl) * end
        c, d = bl + (br - bl) * end, bl + (br - bl) * start
        out.append(Word(text, score, tuple((float(x), float(y)) for x, y in (a, b, c, d))))
    return tuple(out)


def reread_steps(engine: OcrEngine, image: np.ndarray, lines: Sequence[TextLine]) -> Steps[list[TextLine]]:
    """``lines`` with each header line's text, confidence and words replaced by the winning reading of the vote
    (the line as read, cut with a margin, cut with stretched contrast); polygons and order are kept. A sequence
    of model runs like ``OcrEngine.page_steps``: ``engine.drive`` runs it here, a server on its lanes."""
    header = _header(lines)
    if not header:
        return list(lines)
    padded = [margin_quad(np.array(lines[i].polygon, np.float32), *_MARGIN) for i in header]
    faded = [margin_quad(np.array(lines[i].polygon, np.float32), *_STRETCH_MARGIN) for i in header]
    crops = [crop_quad(image, q)[0] for q in padded] + [stretched(crop_quad(image, q)[0]) for q in faded]
    readings = yield from engine.read_steps(crops)
    out = list(lines)
    for k, i in enumerate(header):
        options = [readings[k], readings[len(header) + k]]
        frames = [padded[k], faded[k]]
        read = [(lines[i].text, lines[i].confidence), *((r.text, r.confidence) for r in options)]
        texts = [(" ".join(t.split()), c) for t, c in read]
        won = vote(texts)
        if won and texts[won][0]:
            reading = options[won - 1]
            words = _words(reading, frames[won - 1])
            out[i] = replace(lines[i], text=texts[won][0], confidence=reading.confidence, words=words)
    return out


def reread_source_steps(
    engine: OcrEngine, source: ImageInput | RawImage, lines: Sequence[TextLine]
) -> Steps[list[TextLine]]:
    """``reread_steps`` on ``source`` decoded again (a server lets the image go once its lines are cut, so
    a call asking for a receipt's fields decodes it a second time rather than hold every page longer)."""
    if not _header(lines):
        return list(lines)
    image = engine.load_image(source)
    return (yield from reread_steps(engine, image, lines))


def reread_header(engine: OcrEngine, image: np.ndarray, lines: Sequence[TextLine]) -> list[TextLine]:
    """``reread_steps`` run here, synchronously."""
    return engine.drive(reread_steps(engine, image, lines))
