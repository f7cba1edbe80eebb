"""Pure pre/post-processing functions, checked on hand-made inputs."""

from __future__ import annotations

import cv2
import numpy as np

from edge_runtime import detect, recognize
from edge_runtime.geometry import crop_quad, order_clockwise, reading_order


def test_ctc_decode_collapses_repeats_and_blanks() -> None:
    chars = ("a", "b", " ")
    steps = [1, 1, 0, 1, 2, 0, 3, 2, 2]  # a a _ a b _ ' ' b b  ->  "aab b"
    probs = np.full((len(steps), 4), 0.01, np.float32)
    for t, c in enumerate(steps):
        probs[t, c] = 0.97
    best = np.stack([probs.max(axis=1), probs.argmax(axis=1)], axis=1)  # what the recognizer answers per step
    reading = recognize.ctc_decode_best(best, chars, content_fraction=1.0)
    assert reading.text == "aab b"
    assert abs(reading.confidence - 0.97) < 1e-6
    assert reading.char_spans[0] == (0.0, 2 / 9)
    assert recognize.words_of(reading)[1][0] == "b"
    half = recognize.ctc_decode_best(best, chars, content_fraction=0.5)
    assert half.char_spans[1] == (min(1.0, 3 / 9 / 0.5), min(1.0, 4 / 9 / 0.5))


def test_width_buckets_depend_only_on_the_crop() -> None:
    p = recognize.RecParams()
    assert recognize.bucket_width(10, p) == 320
    assert recognize.bucket_width(321, p) == 384
    assert recognize.bucket_width(384, p) == 384
    blob, width = recognize.preprocess(np.zeros((24, 100, 3), np.uint8), p)
    assert blob.shape == (3, 48, 320) and width == 200
    assert np.all(blob[:, :, 200:] == 0)


def test_detector_input_size_rules() -> None:
    p = detect.DetParams(limit_side_len=960, limit_type="max")
    assert detect.target_size(1920, 1080, p) == (960, 544)
    assert detect.target_size(100, 50, p) == (96, 64)
    p_min = detect.DetParams(limit_side_len=736, limit_type="min", max_side_len=2000)
    assert detect.target_size(368, 1000, p_min) == (736, 1984)


def test_postprocess_finds_a_rectangle() -> None:
    prob = np.zeros((200, 400), np.float32)
    prob[80:110, 50:350] = 0.9
    boxes = detect.postprocess(prob, 400, 800, detect.DetParams())
    assert len(boxes) == 1
    quad, score = boxes[0]
    assert score > 0.85
    # unclipped and scaled x2 back to source pixels: covers the kernel with margin
    assert quad[0][0] < 100 and quad[1][0] > 700 and quad[0][1] < 160 and quad[2][1] > 220


def test_order_clockwise_and_crop() -> None:
    quad = order_clockwise(np.array([[90, 40], [10, 10], [90, 10], [10, 40]]))
    assert quad.tolist() == [[10, 10], [90, 10], [90, 40], [10, 40]]
    image = np.zeros((60, 100, 3), np.uint8)
    cv2.rectangle(image, (10, 10), (90, 40), (255, 255, 255), -1)
    crop, turned = crop_quad(image, quad)
    assert crop.shape[:2] == (30, 80) and not turned and crop.mean() > 250
    _, turned = crop_quad(image, np.array([[10, 0], [30, 0], [30, 60], [10, 60]], np.float32))
    assert turned


def test_reading_order_rows_then_columns() -> None:
    def box(x, y, w=50, h=20):
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)

    quads = [box(200, 102), box(10, 100), box(10, 200), box(120, 98)]
    assert reading_order(quads) == [1, 3, 0, 2]


def test_a_line_kept_against_a_decisive_page_vote_is_read_both_ways() -> None:
    """Four lines say the page is upside down, one is 'sure' it is not: it stays, marked doubtful, so the
    recognizer's confidence decides (a rendered page turned 90° read one line as garbage before)."""
    from edge_runtime.pipeline import LineCrop, orient_page

    def crop(y: float) -> LineCrop:
        quad = np.array([[0, y], [400, y], [400, y + 30], [0, y + 30]], np.float32)
        return LineCrop(np.zeros((30, 400, 3), np.uint8), quad, quad.copy())

    crops = [crop(40.0 * i) for i in range(5)]
    probs = np.array([[0.0, 1.0]] * 3 + [[0.91, 0.09], [0.0, 1.0]], np.float32)
    oriented = orient_page(crops, probs, thresh=0.9)
    assert [c.flipped for c in crops] == [True, True, True, False, True]
    assert [c.doubtful for c in crops] == [False, False, False, True, False]
    assert len(oriented) == 5
