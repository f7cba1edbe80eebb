"""The padding look: a short crop read unsure is read again padded wider, the surer reading kept (real models)."""

from __future__ import annotations

import numpy as np

from edge_runtime.pipeline import LineCrop, OcrEngine, drive
from edge_runtime.recognize import Reading
from tests import rendered
from tests.conftest import get_engine


def _read(engine: OcrEngine, image: np.ndarray) -> tuple[Reading, list[int]]:
    """The reading of a crop as the pipeline reads it, and the input width of every recognizer row it asked for."""
    widths: list[int] = []

    def answer(runs):
        widths.extend(run.blob.shape[-1] for run in runs if run.stage == "rec" for _ in run.blob)
        return engine.answer(runs)

    (reading,) = drive(engine.reading_steps([engine.whole_image_crop(image)]), answer)
    return reading, widths


def test_only_a_short_unsure_crop_is_read_again_and_the_surer_reading_kept() -> None:
    engine = get_engine(precision="fp32").variant(rec_padding_look=224)
    word, line = rendered.line("CITY"), rendered.line("The quick brown dog jumped over the")
    assert engine.rec_params.min_width == 160 and word.shape[1] < 160 < 224 < line.shape[1]

    sure, widths = _read(engine, word)  # a clean word reads sure: one row, not looked at again
    assert sure.text == "CITY" and sure.confidence >= engine.config.rec_sure and widths == [160]

    unsure = engine.variant(rec_sure=1.01)  # every reading counts as unsure: the short crop qualifies
    kept, widths = _read(unsure, word)
    assert widths == [160, 224]
    (padded,) = engine.variant(rec_min_width=224).read([word])
    assert kept == max(sure, padded, key=lambda r: r.confidence)

    assert len(_read(unsure, line)[1]) == 1  # a long line is never looked at again
    assert _read(unsure.variant(rec_padding_look=0), word)[1] == [160]


def test_the_surer_reading_is_kept() -> None:
    readings = [Reading("GITY", 0.7, (), ()), Reading("step", 0.8, (), ())]
    second = [Reading("CITY", 0.75, (), ()), Reading("SIEP", 0.6, (), ())]
    assert [r.text for r in OcrEngine.keep_surer(readings, [0, 1], second)] == ["CITY", "step"]
    crop = np.zeros((48, 100, 3), np.uint8)
    quad = np.array([[0, 0], [100, 0], [100, 48], [0, 48]], np.float32)
    engine = get_engine(precision="fp32").variant(rec_padding_look=224)
    short, long = LineCrop(crop, quad, quad), LineCrop(np.zeros((48, 400, 3), np.uint8), quad, quad)
    unsure_sure = [Reading("a", 0.7, (), ()), Reading("b", 0.95, (), ())]
    assert engine.padding_look([short, short], unsure_sure) == [0]  # 100 px: padded to 160
    assert engine.padding_look([long, long], unsure_sure) == []  # 400 px: padded to 448
    assert engine.variant(rec_padding_look=0).padding_look([short, short], unsure_sure) == []
