"""Cheap frame change detection: a small blurred gray thumbnail compared cell by cell with a reference frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Change", "ChangeDetector", "thumbnail", "region_thumbnail"]


@dataclass(frozen=True)
class Change:
    changed: bool  # some cell moved past the threshold (or there is no reference yet)
    cut: bool  # so many cells changed at once that this is another scene
    fraction: float  # share of cells that changed
    peak: float  # largest cell mean |diff|, gray levels


def thumbnail(image: np.ndarray, width: int) -> np.ndarray:
    """BGR frame -> float32 gray thumbnail ``width`` wide; area averaging plus a blur tame sensor noise."""
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small.astype(np.float32), (3, 3), 0)


def region_thumbnail(gray: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The frame's pixels under a line's box -> 16x64 float32, to tell whether the line's content changed.

    Always cut along the same box (the one the line was read in), so a detector box that wobbles by a
    pixel or two does not look like new content.
    """
    pts = np.asarray(quad, np.float32).reshape(4, 2)
    h, w = gray.shape[:2]
    x0, y0 = np.clip(np.floor(pts.min(axis=0)).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(pts.max(axis=0)).astype(int), 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return np.zeros((16, 64), np.float32)
    return cv2.resize(gray[y0:y1, x0:x1], (64, 16), interpolation=cv2.INTER_AREA).astype(np.float32)


class ChangeDetector:
    """Tells whether a frame differs from the last one that was processed.

    Comparing against the last *processed* frame (not the previous one) means slow drift adds up until it
    is noticed. Cell means, not single pixels, so noise averages out while a changed word still moves
    its cell by tens of gray levels.
    """

    def __init__(self, width: int = 320, cell: int = 4, threshold: float = 5.0, cut_fraction: float = 0.5) -> None:
        self.width, self.cell, self.threshold, self.cut_fraction = width, cell, threshold, cut_fraction
        self._reference: np.ndarray | None = None

    def reset(self) -> None:
        self._reference = None

    def compare(self, image: np.ndarray) -> tuple[Change, np.ndarray]:
        """Change of ``image`` against the reference, and its thumbnail (pass it to ``accept`` if processed)."""
        thumb = thumbnail(image, self.width)
        ref = self._reference
        if ref is None or ref.shape != thumb.shape:
            return Change(True, ref is not None, 1.0, 255.0), thumb  # new size mid-stream: another scene
        diff = np.abs(thumb - ref)
        h, w = diff.shape
        c = self.cell
        rows, cols = max(1, h // c), max(1, w // c)
        # cells cover the thumbnail; the last row/column absorb the remainder
        cells = cv2.resize(diff, (cols, rows), interpolation=cv2.INTER_AREA)
        peak = float(cells.max())
        # threshold <= 0 processes every frame; cuts are still told apart at the default level
        fraction = float((cells > (self.threshold if self.threshold > 0 else 5.0)).mean())
        changed = self.threshold <= 0 or peak > self.threshold
        return Change(changed, changed and fraction >= self.cut_fraction, fraction, peak), thumb

    def accept(self, thumb: np.ndarray) -> None:
        """Make this thumbnail the reference: its frame was processed."""
        self._reference = thumb
