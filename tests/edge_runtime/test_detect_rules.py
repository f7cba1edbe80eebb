"""The detector's scale rule follows the text it finds: small lines get a second, larger pass; tall ones do not."""

from __future__ import annotations

import numpy as np

from edge_runtime import detect
from edge_runtime.geometry import share_inside


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


def _box(x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> tuple[np.ndarray, float]:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32), score


def test_the_passes_merge_region_by_region() -> None:
    """Both passes' lines, one answer per region: the larger box where both found a line, the second pass's boxes
    where it split a first-pass box or found a line the first missed, nothing where only the first saw text."""
    same_first, same_second = _box(10, 10, 110, 40, 0.6), _box(11, 12, 109, 38, 0.8)  # the larger input's is lower
    wide_first, wide_second = _box(10, 100, 90, 120), _box(9, 99, 91, 121, 0.7)  # ... or, here, larger
    merged_lines = _box(200, 10, 400, 60)  # two lines run together at the first scale
    upper, lower = _box(202, 12, 398, 33), _box(202, 37, 398, 58)
    missed = _box(500, 10, 560, 25)  # only the second pass sees it
    noise = _box(600, 100, 640, 130)  # the second pass finds no text there
    merged = detect.merge_passes(
        [same_first, wide_first, merged_lines, noise], [upper, same_second, missed, lower, wide_second]
    )
    kept = [(tuple(q[0]), s) for q, s in merged]
    assert kept == [
        ((10.0, 10.0), 0.6),  # the first pass's box, its score with it
        ((9.0, 99.0), 0.7),
        ((202.0, 12.0), 0.9),
        ((202.0, 37.0), 0.9),
        ((500.0, 10.0), 0.9),
    ]


def test_a_second_pass_box_counts_for_one_region_only() -> None:
    """Overlapping first-pass boxes do not both claim (and repeat) the same second-pass line."""
    a, b = _box(10, 10, 110, 40), _box(12, 11, 108, 41)
    line = _box(10, 10, 110, 40)
    assert [tuple(q[0]) for q, _ in detect.merge_passes([a, b], [line])] == [(10.0, 10.0)]
    assert detect.merge_passes([], [line]) == [line]


def test_share_inside_is_the_inner_quads_covered_fraction() -> None:
    inner, outer = _box(0, 0, 10, 10)[0], _box(5, 0, 30, 10)[0]
    assert share_inside(inner, outer) == 0.5
    assert share_inside(outer, inner) == 0.2
    assert share_inside(inner, _box(50, 50, 60, 60)[0]) == 0.0
    assert share_inside(_box(0, 0, 10, 0)[0], outer) == 0.0  # an empty quad covers nothing
