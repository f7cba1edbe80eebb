"""Text-line recognition: width-bucketed preprocessing, CTC greedy decoding, word boxes from CTC positions.

SVTR-style recognizers mix information across the whole (padded) width, so the padding a crop gets changes
its output. Each crop is therefore padded to a width that depends on the crop alone (its bucket), and only
crops of the same bucket share a batch: batched output equals batch-1 output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class RecParams:
    height: int = 48
    min_width: int = 320
    width_step: int = 64
    max_width: int = 1600


@dataclass(frozen=True)
class Reading:
    """Decoded line: text, mean confidence, and per character (start, end) as fractions of the line width."""

    text: str
    confidence: float
    char_spans: tuple[tuple[float, float], ...]
    char_scores: tuple[float, ...]


def resized_width(crop_h: int, crop_w: int, p: RecParams) -> int:
    return max(1, min(p.max_width, int(math.ceil(p.height * crop_w / max(crop_h, 1)))))


def bucket_width(resized: int, p: RecParams) -> int:
    """The padded width: at least ``min_width``, rounded up to a multiple of ``width_step``."""
    return max(p.min_width, int(math.ceil(resized / p.width_step)) * p.width_step)


def preprocess(crop: np.ndarray, p: RecParams) -> tuple[np.ndarray, int]:
    """BGR crop -> (float32 3 x H x bucket_width, resized content width)."""
    width = resized_width(crop.shape[0], crop.shape[1], p)
    resized = cv2.resize(crop, (width, p.height), interpolation=cv2.INTER_LINEAR)
    blob = np.zeros((3, p.height, bucket_width(width, p)), dtype=np.float32)
    blob[:, :, :width] = (resized.astype(np.float32) * np.float32(2 / 255.0) - 1.0).transpose(2, 0, 1)
    return blob, width


def ctc_decode_best(per_step: np.ndarray, characters: tuple[str, ...], content_fraction: float) -> Reading:
    """Greedy CTC on what the recognizer answers per time step (``SessionOptions.best_class``): T x 2, each step's
    best class's score and the class. Class 0 is the blank; class i is ``characters[i-1]``.

    ``content_fraction`` = content width / padded width, so positions come back relative to the crop.
    """
    best = per_step[:, 1].astype(np.int64)
    scores = per_step[:, 0]
    steps = len(best)
    text: list[str] = []
    spans: list[tuple[float, float]] = []
    char_scores: list[float] = []
    t = 0
    while t < steps:
        cls = int(best[t])
        end = t + 1
        while end < steps and best[end] == cls:
            end += 1
        if cls != 0 and cls - 1 < len(characters):
            text.append(characters[cls - 1])
            spans.append((min(1.0, t / steps / content_fraction), min(1.0, end / steps / content_fraction)))
            char_scores.append(float(scores[t:end].max()))
        t = end
    confidence = float(np.mean(char_scores)) if char_scores else 0.0
    return Reading("".join(text), confidence, tuple(spans), tuple(char_scores))


def words_of(reading: Reading) -> list[tuple[str, float, float, float]]:
    """Split a reading at spaces: [(word, confidence, start fraction, end fraction)]."""
    words: list[tuple[str, float, float, float]] = []
    current: list[int] = []
    for i, ch in enumerate(reading.text + " "):
        if ch.isspace():
            if current:
                word = "".join(reading.text[k] for k in current)
                score = float(np.mean([reading.char_scores[k] for k in current]))
                words.append((word, score, reading.char_spans[current[0]][0], reading.char_spans[current[-1]][1]))
                current = []
        else:
            current.append(i)
    return words
