"""Where the detector runs on a frame: the changed regions grown over the tracks they touch, or the whole frame.

``plan`` turns the change detector's regions and the tracks' boxes into crops (or ``None``: the whole
frame is cheaper); ``detect_in`` runs the engine's detector on those crops at the scale the whole frame
would have been detected at, so a line's box does not depend on which crop found it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from edge_runtime import detect
from edge_runtime.geometry import reading_order
from edge_runtime.pipeline import OcrEngine
from edge_runtime.stream.change import Box

__all__ = ["plan", "area", "intersects", "RegionDetector"]


def area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def intersects(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def plan(
    changed: Sequence[Box], tracks: Sequence[Sequence[float]], size: tuple[int, int], pad: int, max_fraction: float
) -> list[Box] | None:
    """Crops that cover every changed region (padded by ``pad``) and, whole, every track box they touch
    (a line half changed is detected whole), merged where they overlap; ``None`` when they would cover more
    than ``max_fraction`` of the frame (one detector run on the whole frame is then cheaper)."""
    width, height = size
    boxes: list[Box] = [
        (max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)) for x0, y0, x1, y1 in changed
    ]
    grown = [
        (
            max(0, math.floor(t[0]) - pad),
            max(0, math.floor(t[1]) - pad),
            min(width, math.ceil(t[2]) + pad),
            min(height, math.ceil(t[3]) + pad),
        )
        for t in tracks
    ]
    grown = [t for t in grown if t[2] > t[0] and t[3] > t[1]]
    merged = True
    while merged:  # until no crop overlaps another crop or a track box it does not hold yet
        merged = False
        out: list[Box] = []
        for box in boxes:
            for i, other in enumerate(out):
                if intersects(box, other):
                    out[i] = _union(box, other)
                    merged = True
                    break
            else:
                out.append(box)
        boxes = out
        for i, box in enumerate(boxes):
            for track in grown:
                if intersects(box, track) and _union(box, track) != box:
                    box = _union(box, track)
                    merged = True
            boxes[i] = (max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3]))
    if sum(area(b) for b in boxes) > max_fraction * width * height:
        return None
    return boxes


class RegionDetector:
    """The engine's detector on crops of a frame, at the whole frame's scale."""

    def __init__(self, engine: OcrEngine) -> None:
        self.engine = engine

    def scale(self, height: int, width: int) -> float:
        """The factor the detector resizes a whole ``height`` x ``width`` frame by."""
        h, w = detect.target_size(height, width, self.engine.det_params)
        return float(np.sqrt((h / height) * (w / width)))

    def detect_in(self, image: np.ndarray, boxes: Sequence[Box]) -> list[np.ndarray]:
        """Quadrilaterals (frame pixels, reading order) of the lines found in the crops ``boxes``.

        A crop is sized to a multiple of 64 network pixels (so the detector sees few distinct input
        shapes); a line found twice where crops overlap is kept once.
        """
        height, width = image.shape[:2]
        scale = self.scale(height, width)
        found: list[np.ndarray] = []
        for box in boxes:
            x0, y0, x1, y1 = _quantised(box, scale, width, height)
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            h, w = crop.shape[:2]
            if h < 8 or w < 8:
                continue
            p = self.engine.det_params
            # a sizing rule that resizes this crop by ``scale``, whatever rule the engine has
            if scale <= 1.0:
                params = dataclasses.replace(p, limit_type="max", limit_side_len=max(32, round(max(h, w) * scale)))
            else:
                params = dataclasses.replace(p, limit_type="min", limit_side_len=max(32, round(min(h, w) * scale)))
            for quad in self.engine.detect(crop, params):
                quad = np.asarray(quad, np.float32) + np.array([x0, y0], np.float32)
                if not any(_same(quad, q) for q in found):
                    found.append(quad)
        return [found[i] for i in reading_order(found)]


def _quantised(box: Box, scale: float, width: int, height: int, step: int = 64) -> Box:
    """``box`` grown so that its network size is a multiple of ``step``, kept inside the frame."""
    x0, y0, x1, y1 = box
    unit = step / max(scale, 1e-6)

    def grow(lo: int, hi: int, limit: int) -> tuple[int, int]:
        want = min(limit, math.ceil(math.ceil((hi - lo) / unit) * unit))
        extra = want - (hi - lo)
        lo = max(0, lo - extra // 2)
        hi = lo + want
        if hi > limit:
            hi, lo = limit, max(0, limit - want)
        return lo, hi

    x0, x1 = grow(x0, x1, width)
    y0, y1 = grow(y0, y1, height)
    return x0, y0, x1, y1


def _same(a: np.ndarray, b: np.ndarray, iou: float = 0.5) -> bool:
    ax0, ay0 = a.min(axis=0)
    ax1, ay1 = a.max(axis=0)
    bx0, by0 = b.min(axis=0)
    bx1, by1 = b.max(axis=0)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return union > 0 and inter / union >= iou
