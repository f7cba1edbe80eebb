"""Lines that inherit the page's orientation read as they do with every line classified (real models)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_runtime.errors import ConfigurationError
from tests import rendered
from tests.conftest import get_engine


def _mixed_page() -> np.ndarray:
    """The rendered page with its last line turned upside down in place."""
    page = rendered.page()
    y0, y1 = 30 + 52 * 4 - 4, 30 + 52 * 4 + 40
    page[y0:y1, 16:624] = page[y0:y1, 16:624][::-1, ::-1]
    return page


def test_an_upside_down_line_on_an_upright_page_is_still_turned() -> None:
    every_line = get_engine(precision="fp32").variant(cls_decided_lines=0)
    inheriting = every_line.variant(cls_decided_lines=2)
    page = _mixed_page()
    assert inheriting.recognize(page).text == every_line.recognize(page).text
    assert inheriting.recognize(page).text == every_line.recognize(rendered.page()).text
    unguarded = every_line.variant(cls_decided_lines=2, rec_sure=0.0)  # inherited lines never classified
    assert unguarded.recognize(page).text != inheriting.recognize(page).text


@pytest.mark.parametrize("turn", [cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE])
def test_turned_pages_read_in_order_when_lines_inherit(turn) -> None:
    engine = get_engine(precision="fp32").variant(cls_decided_lines=2)
    assert engine.recognize(cv2.rotate(rendered.page(), turn)).text == "\n".join(rendered.PAGE_LINES)


def test_lines_of_a_decided_page_are_not_classified() -> None:
    engine = get_engine(precision="fp32").variant(cls_decided_lines=2)
    crops = engine.crop(rendered.page(), engine.detect(rendered.page()))
    asked: list[int] = []

    def answer(runs):
        asked.extend(len(run.blob) for run in runs if run.stage == "cls")
        return engine.answer(runs)

    from edge_runtime.pipeline import drive

    oriented = drive(engine.orient_steps(crops), answer)
    assert sum(asked) == 2 and len(oriented) == 5
    assert sum(c.inherited for c in oriented) == 3


def test_a_variant_shares_the_models_and_refuses_knobs_that_load_others() -> None:
    engine = get_engine(precision="fp32")
    other = engine.variant(rec_width_step=32)
    assert other._sessions is engine._sessions and other.rec_params.width_step == 32
    assert engine.rec_params.width_step == 64
    with pytest.raises(ConfigurationError):
        engine.variant(precision="int8")
