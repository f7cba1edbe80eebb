"""Quadrilateral helpers: point ordering, perspective crops, reading order."""

from __future__ import annotations

import cv2
import numpy as np


def order_clockwise(points: np.ndarray) -> np.ndarray:
    """4x2 points -> top-left, top-right, bottom-right, bottom-left."""
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def crop_quad(image: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, bool]:
    """Warp the quadrilateral to an upright rectangle.

    Returns the crop and whether it was turned 90° (tall crops are read as vertical lines of a rotated page).
    """
    quad = quad.astype(np.float32)
    width = int(round(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))))
    height = int(round(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if height >= 1.5 * width:
        return np.rot90(crop).copy(), True
    return crop, False


def reading_order(quads: list[np.ndarray]) -> list[int]:
    """Indices sorted top-to-bottom, then left-to-right within a row (rows: vertical centres within half a line)."""
    if not quads:
        return []
    tops = [float(q[:, 1].min()) for q in quads]
    heights = [max(float(q[:, 1].max() - q[:, 1].min()), 1.0) for q in quads]
    centres = [t + h / 2 for t, h in zip(tops, heights, strict=True)]
    order = sorted(range(len(quads)), key=lambda i: (centres[i], float(quads[i][:, 0].min())))
    rows: list[list[int]] = []
    for i in order:
        if rows:
            ref = rows[-1][0]
            if abs(centres[i] - centres[ref]) < 0.5 * min(heights[i], heights[ref]):
                rows[-1].append(i)
                continue
        rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda k: float(quads[k][:, 0].min()))]


def share_inside(inner: np.ndarray, outer: np.ndarray) -> float:
    """Fraction of quadrilateral ``inner``'s area that lies inside ``outer`` (0 for an empty ``inner``)."""
    a = cv2.convexHull(np.asarray(inner, dtype=np.float32).reshape(-1, 1, 2))
    b = cv2.convexHull(np.asarray(outer, dtype=np.float32).reshape(-1, 1, 2))
    area = cv2.contourArea(a)
    if area <= 0:
        return 0.0
    common, _ = cv2.intersectConvexConvex(a, b)
    return float(common) / area
