"""Reading-order NED as shared/eval/README.md defines it: word edits over the longer side's word count."""

from __future__ import annotations

import pytest

from edge_runtime.evaluation.metrics import reading_order_ned


@pytest.mark.parametrize(
    ("predicted", "truth", "ned"),
    [
        ("One two, three.", "one two three", 0.0),  # words as for word F1: case and outer punctuation ignored
        ("two one three four", "one two three four", 0.5),  # a swap is two word edits
        ("one two", "one two three four", 0.5),  # missing words count, over the longer side
        ("", "one", 1.0),
        ("", "", 0.0),
        ("a b c d", "e f g h", 1.0),
    ],
)
def test_reading_order_ned(predicted: str, truth: str, ned: float) -> None:
    assert reading_order_ned(predicted, truth) == pytest.approx(ned)


def test_columns_read_across_score_high() -> None:
    left, right = [f"l{k}" for k in range(20)], [f"r{k}" for k in range(20)]
    across = " ".join(w for pair in zip(left, right, strict=True) for w in pair)
    assert reading_order_ned(across, " ".join(left + right)) > 0.9
