"""When a page's orientation counts as decided, and which lines are judged first (pure functions)."""

from __future__ import annotations

import numpy as np

from edge_runtime import classify


def test_the_longest_lines_are_judged_first_and_small_pages_whole() -> None:
    lengths = np.array([50.0, 400.0, 120.0, 400.0, 30.0, 300.0])
    assert classify.first_judged(lengths, 3) == [1, 3, 5]
    assert classify.first_judged(lengths, 0) == list(range(6))
    assert classify.first_judged(lengths[:4], 3) == [0, 1, 2, 3]  # one line left over: not worth inheriting


def test_orientation_is_decided_only_when_every_judged_line_is_sure_of_it() -> None:
    sure_up = np.array([[0.99, 0.01], [0.95, 0.05]], np.float32)
    assert classify.decided_orientation(sure_up, 0.9) == classify.UPRIGHT
    assert classify.decided_orientation(sure_up[:, ::-1], 0.9) == classify.UPSIDE_DOWN
    mixed = np.array([[0.99, 0.01], [0.02, 0.98]], np.float32)
    assert classify.decided_orientation(mixed, 0.9) is None
    unsure = np.array([[0.99, 0.01], [0.8, 0.2]], np.float32)
    assert classify.decided_orientation(unsure, 0.9) is None
    assert classify.decided_orientation(np.zeros((0, 2), np.float32), 0.9) is None
    assert classify.certain(classify.UPSIDE_DOWN).tolist() == [0.0, 1.0]
