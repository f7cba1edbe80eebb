"""The header's second reading: the crops it cuts, the vote it takes, and a rendered receipt read again by the
real models keeping its fields, boxes and order."""

from __future__ import annotations

import numpy as np

from edge_runtime.fields import extract
from edge_runtime.fields.reread import HEADER_LINES, margin_quad, reread_header, stretched, vote
from edge_runtime.fields.scoring import field_scores
from tests.edge_runtime.fields.render import RECEIPT, RECEIPT_FIELDS, page


def test_the_vote_takes_what_two_readings_agree_on_else_the_first():
    assert vote([("SETTA ALAM", 0.99), ("SETIA ALAM", 0.90), ("SETIA ALAM", 0.80)]) == 1
    assert vote([("A", 0.5), ("B", 0.9), ("C", 0.7)]) == 0  # no two agree: the line as read
    assert vote([("A", 0.9), ("B", 0.8), ("B", 0.7)]) == 1


def test_the_margin_grows_a_turned_line_along_and_across_its_own_axes():
    upright = np.array([[10, 10], [110, 10], [110, 30], [10, 30]], np.float32)
    np.testing.assert_allclose(margin_quad(upright, 0.5, 0.25), [[0, 5], [120, 5], [120, 35], [0, 35]])
    down = np.array([[30, 10], [30, 110], [10, 110], [10, 10]], np.float32)  # read top to bottom
    np.testing.assert_allclose(margin_quad(down, 0.5, 0.25), [[35, 0], [35, 120], [5, 120], [5, 0]])


def test_stretched_contrast_spans_black_to_white():
    faded = np.full((8, 20, 3), 200, np.uint8)
    faded[2:6, 5:15] = 150
    out = stretched(faded)
    assert out.shape == faded.shape and out.min() == 0 and out.max() == 255


def test_a_rendered_receipt_read_again(engine):
    image = engine.load_image(page(RECEIPT))
    lines = engine.recognize(page(RECEIPT)).lines
    again = reread_header(engine, image, lines)
    assert [ln.polygon for ln in again] == [ln.polygon for ln in lines]
    assert sum(a.text != b.text for a, b in zip(again, lines, strict=True)) <= HEADER_LINES
    by_name = {f.name: f.text for f in extract(again, ["receipt"]).fields}
    assert field_scores([by_name], [RECEIPT_FIELDS]).f1 == 1.0
    assert all(w.text in ln.text for ln in again for w in ln.words)
