"""A smoke check for freshly loaded models: detect and read one line drawn here, before they serve anyone.

It catches what a sha256 cannot: a file that is whole but wrong for its stage, a precision the CPU runs
incorrectly, a dictionary that does not fit the recognizer. It is not an accuracy figure (the gate is).
"""

from __future__ import annotations

import difflib

import cv2
import numpy as np

from edge_runtime.pipeline import OcrEngine

__all__ = ["SMOKE_TEXT", "smoke_image", "smoke_check"]

SMOKE_TEXT = "EDGE OCR 2026"
MIN_SIMILARITY = 0.8  # of what was read to SMOKE_TEXT (difflib ratio): a working recognizer reads it all


def smoke_image() -> np.ndarray:
    """SMOKE_TEXT in black on white, one line, large enough for every bundle's detector."""
    image = np.full((96, 560, 3), 255, np.uint8)
    cv2.putText(image, SMOKE_TEXT, (16, 64), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (0, 0, 0), 3, cv2.LINE_AA)
    return image


def smoke_check(engine: OcrEngine) -> str | None:
    """Why ``engine`` fails the smoke check, or None when it reads the line."""
    try:
        result = engine.recognize(smoke_image())
    except Exception as exc:  # any failure of new models is a reason not to serve them
        return f"reading the smoke image failed: {type(exc).__name__}: {exc}"
    text = " ".join(line.text for line in result.lines)
    similarity = difflib.SequenceMatcher(None, text.upper(), SMOKE_TEXT).ratio()
    if similarity < MIN_SIMILARITY:
        return f"the smoke image reads {text!r}, not {SMOKE_TEXT!r} (similarity {similarity:.2f})"
    return None
