"""Test images rendered here with OpenCV (no data files): a page with text lines and a single-line crop."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

__all__ = ["page_png", "line_png"]


def _render(lines: tuple[str, ...], width: int, line_height: int, scale: float, thickness: int) -> np.ndarray:
    image = np.full((line_height * len(lines) + line_height // 2, width, 3), 255, np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(
            image,
            text,
            (line_height // 3, line_height * (k + 1)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
    return image


@lru_cache(None)
def page_png(lines: tuple[str, ...] = ("HELLO 2026", "OCR TEST 42")) -> bytes:
    """A white page with black text lines, for the full pipeline (detection on)."""
    return cv2.imencode(".png", _render(lines, 640, 90, 2.0, 4))[1].tobytes()


@lru_cache(None)
def line_png(text: str = "HELLO") -> bytes:
    """One tight line of text, for skip_detection."""
    return cv2.imencode(".png", _render((text,), 60 + 34 * len(text), 60, 1.5, 3)[:75])[1].tobytes()
