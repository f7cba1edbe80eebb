"""Text-line angle classification (0° or 180°): fixed-size input, so any batch equals batch-1."""

from __future__ import annotations

import math

import cv2
import numpy as np


def preprocess(crop: np.ndarray, height: int = 48, width: int = 192) -> np.ndarray:
    """BGR crop -> float32 3 x height x width, aspect kept, right side zero-padded."""
    w = max(1, min(width, int(math.ceil(height * crop.shape[1] / max(crop.shape[0], 1)))))
    resized = cv2.resize(crop, (w, height), interpolation=cv2.INTER_LINEAR)
    blob = np.zeros((3, height, width), dtype=np.float32)
    blob[:, :, :w] = (resized.astype(np.float32) * np.float32(2 / 255.0) - 1.0).transpose(2, 0, 1)
    return blob
