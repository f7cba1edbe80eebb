"""The detector's scale rule follows the text it finds: small lines get a second, larger pass; tall ones do not."""

from __future__ import annotations

import numpy as np

from edge_runtime import detect


def _line(height: float, top: float = 10.0) -> tuple[np.ndarray, float]:
    quad = np.array([[10, top], [210, top], [210, top + height], [10, top + height]], np.float32)
    return quad, 0.9


def test_small_text_gets_a_larger_second_pass() -> None:
    p = detect.DetParams(limit_side_len=736, limit_type="min", small_text_height=24.0, max_upscale=1.5)
    # a 720p photo is read at 736 x 1312 (scale 736/720): lines 12 px tall are ~12.3 px there
    larger = detect.second_pass([_line(12), _line(12, 40), _line(40, 80)], 720, 1280, p)
    assert larger is not None
    assert larger.small_text_height == 0  # one retry, never a third pass
    first = detect.target_size(720, 1280, p)
    second = detect.target_size(720, 1280, larger)
    assert second[0] == round(first[0] * 1.5 / 32) * 32  # capped by max_upscale
    # lines 20 px tall (20.4 at the input) need 24 / 20.4 = 1.18x
    mild = detect.second_pass([_line(20)], 720, 1280, p)
    assert mild is not None and detect.target_size(720, 1280, mild)[0] == round(736 * 24 / 20.44 / 32) * 32


def test_tall_text_and_documents_keep_one_pass() -> None:
    p = detect.DetParams(limit_side_len=736, limit_type="min", small_text_height=24.0)
    assert detect.second_pass([_line(30), _line(12, 50), _line(30, 90)], 720, 1280, p) is None  # median decides
    assert detect.second_pass([], 720, 1280, p) is None  # nothing found: nothing to measure
    off = detect.DetParams(limit_side_len=736, limit_type="min")
    assert detect.second_pass([_line(5)], 720, 1280, off) is None  # the rule is off by default
    # a receipt near the 2000-px cap can hardly grow: no second pass that would detect (almost) the same input
    receipt = detect.DetParams(limit_side_len=736, limit_type="min", max_side_len=2000, small_text_height=24.0)
    assert detect.second_pass([_line(10)], 1600, 600, receipt) is None
