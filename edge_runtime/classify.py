"""Text-line angle classification (0° or 180°): fixed-size input, so any batch equals batch-1; and when a
page's orientation is decided, so that its other lines need not be classified."""

from __future__ import annotations

import math

import cv2
import numpy as np

UPRIGHT, UPSIDE_DOWN = 0, 180


def preprocess(crop: np.ndarray, height: int = 48, width: int = 192) -> np.ndarray:
    """BGR crop -> float32 3 x height x width, aspect kept, right side zero-padded."""
    w = max(1, min(width, int(math.ceil(height * crop.shape[1] / max(crop.shape[0], 1)))))
    resized = cv2.resize(crop, (w, height), interpolation=cv2.INTER_LINEAR)
    blob = np.zeros((3, height, width), dtype=np.float32)
    blob[:, :, :w] = (resized.astype(np.float32) * np.float32(2 / 255.0) - 1.0).transpose(2, 0, 1)
    return blob


def first_judged(lengths: np.ndarray, lines: int) -> list[int]:
    """Indices of the lines to classify first: the ``lines`` longest (the classifier is surest on long lines,
    and they weigh most in the page's vote); every line when ``lines`` is 0 or the page has no more than
    ``lines`` + 1 lines (nothing worth inheriting)."""
    if lines <= 0 or len(lengths) <= lines + 1:
        return list(range(len(lengths)))
    return sorted(np.argsort(-np.asarray(lengths), kind="stable")[:lines].tolist())


def decided_orientation(probs: np.ndarray, thresh: float) -> int | None:
    """UPRIGHT or UPSIDE_DOWN when every judged line is sure (``thresh``) of that same answer, else None."""
    if len(probs) == 0:
        return None
    for orientation, column in ((UPRIGHT, 0), (UPSIDE_DOWN, 1)):
        if bool(np.all(probs[:, column] >= thresh)):
            return orientation
    return None


def certain(orientation: int) -> np.ndarray:
    """The (p 0°, p 180°) an inherited line is given: the decided orientation, for sure."""
    return np.array([1.0, 0.0] if orientation == UPRIGHT else [0.0, 1.0], np.float32)
