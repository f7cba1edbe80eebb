"""Clean images rendered in the test itself (Pillow's built-in font), for tests that need exact known text."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["PAGE_LINES", "page", "page_png", "line"]

PAGE_LINES = (
    "This is a lot of 12 point text to test",
    "the ocr code and see if it works on",
    "all types of file format.",
    "The quick brown dog jumped over the",
    "lazy fox. ZVI GALIL 2026",
)


def _bgr(image: Image.Image) -> np.ndarray:
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


@lru_cache(None)
def _page() -> np.ndarray:
    image = Image.new("RGB", (640, 480), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    for i, text in enumerate(PAGE_LINES):
        draw.text((24, 30 + 52 * i), text, fill="black", font=font)
    return _bgr(image)


def page() -> np.ndarray:
    """A 640x480 BGR page with the five PAGE_LINES, black on white."""
    return _page().copy()


def page_png() -> bytes:
    return cv2.imencode(".png", _page())[1].tobytes()


def line(text: str, height: int = 48) -> np.ndarray:
    """One line of text as a tight BGR crop (to read with detection skipped)."""
    font = ImageFont.load_default(size=int(height * 0.6))
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGB", (right - left + 16, height), "white")
    ImageDraw.Draw(image).text((8 - left, (height - (bottom - top)) // 2 - top), text, fill="black", font=font)
    return _bgr(image)
