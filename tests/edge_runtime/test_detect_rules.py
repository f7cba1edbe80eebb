"""The detector's scale rule follows the text it finds: small lines get a second, larger pass; tall ones do not."""

from __future__ import annotations

import numpy as np

from edge_runtime import detect


def _line(height: float, top: float = 10.0) -> tuple[np.ndarray, float]:
    quad = np.array([[10, top], [210, top], [210, top + height], [10, top + height]], np.float32)
    return quad, 0.9


def test_small_text_gets_a_larger_second_pass() -> None:
    p = detect.DetParams(limit_side_len=736, limit_type="min", small_text_height=28.0, max_upscale=1.3)
    # a 720p photo is read at 736 x 1312: lines 12 px tall are ~12.3 px there, the median decides
    larger = detect.second_pass([_line(12), _line(12, 40), _line(40, 80)], 720, 1280, p)
    assert larger is not None
    assert larger.small_text_height == 0  # one retry, never a third pass
    assert detect.target_size(720, 1280, larger) == (960, 1696)  # the full step, as min-side 960 would
    just_under = detect.second_pass([_line(27)], 720, 1280, p)  # 27.6 px at the input
    assert just_under is not None and detect.target_size(720, 1280, just_under) == (960, 1696)


def test_tall_text_and_documents_keep_one_pass() -> None:
    p = detect.DetParams(limit_side_len=736, limit_type="min", small_text_height=28.0)
    assert detect.second_pass([_line(30), _line(12, 50), _line(30, 90)], 720, 1280, p) is None  # median decides
    assert detect.second_pass([_line(28)], 720, 1280, p) is None  # 28.6 px at the input
    assert detect.second_pass([], 720, 1280, p) is None  # nothing found: nothing to measure
    off = detect.DetParams(limit_side_len=736, limit_type="min")
    assert detect.second_pass([_line(5)], 720, 1280, off) is None  # the rule is off when the height is 0
    # a receipt near the 2000-px cap can hardly grow: no second pass that would detect (almost) the same input
    receipt = detect.DetParams(limit_side_len=736, limit_type="min", max_side_len=2000, small_text_height=28.0)
    assert detect.second_pass([_line(10)], 1600, 600, receipt) is None


def test_memory_is_charged_for_the_larger_pass_where_one_can_run() -> None:
    """Admission by memory charges before the first pass knows the text's height: the second pass's input where
    the image could get one, the first's where the rule is off or the cap leaves the same input."""
    p = detect.DetParams(limit_side_len=736, limit_type="min", small_text_height=28.0, max_upscale=1.3)
    assert detect.largest_target(720, 1280, p) == (960, 1696)
    off = detect.DetParams(limit_side_len=736, limit_type="min")
    assert detect.largest_target(720, 1280, off) == detect.target_size(720, 1280, off) == (736, 1312)
    receipt = detect.DetParams(limit_side_len=736, limit_type="min", max_side_len=2000, small_text_height=28.0)
    assert detect.largest_target(1600, 600, receipt) == detect.target_size(1600, 600, receipt)
