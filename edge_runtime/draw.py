"""Draw recognized lines and words onto a copy of the image (for people, not for the pipeline)."""

from __future__ import annotations

import cv2
import numpy as np

from edge_runtime.types import OcrResult


def draw_result(image: np.ndarray, result: OcrResult, words: bool = True) -> np.ndarray:
    canvas = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 800))
    for line in result.lines:
        pts = np.round(np.array(line.polygon)).astype(np.int32)
        cv2.polylines(canvas, [pts], True, (0, 170, 0), thickness + 1)
        if words:
            for word in line.words:
                cv2.polylines(
                    canvas, [np.round(np.array(word.polygon)).astype(np.int32)], True, (230, 90, 0), thickness
                )
        cv2.circle(canvas, tuple(int(v) for v in pts[0]), thickness + 2, (0, 0, 255), -1)  # where reading starts
    return canvas
