"""Recognizer input widths and which lines get looked at again (pure functions, hand-made inputs)."""

from __future__ import annotations

import numpy as np

from edge_runtime import recognize
from edge_runtime.pipeline import LineCrop, OcrEngine
from edge_runtime.recognize import Reading


def test_finer_width_steps_pad_less_and_keep_the_minimum() -> None:
    coarse = recognize.RecParams(min_width=160, width_step=64)
    fine = recognize.RecParams(min_width=160, width_step=16)
    assert recognize.bucket_width(100, coarse) == recognize.bucket_width(100, fine) == 160
    assert recognize.bucket_width(330, coarse) == 384
    assert recognize.bucket_width(330, fine) == 336


def _crop(inherited: bool) -> LineCrop:
    quad = np.array([[0, 0], [100, 0], [100, 20], [0, 20]], np.float32)
    return LineCrop(np.zeros((20, 100, 3), np.uint8), quad, quad.copy(), inherited=inherited)


def test_only_unsure_lines_that_inherited_their_orientation_are_classified_after_reading() -> None:
    crops = [_crop(True), _crop(True), _crop(False)]
    readings = [Reading("abc", c, (), ()) for c in (0.95, 0.6, 0.3)]
    assert OcrEngine.unsure_inherited(crops, readings, sure=0.9) == [1]
    assert OcrEngine.unsure_inherited(crops, readings, sure=0.99) == [0, 1]
