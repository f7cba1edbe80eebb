"""The layout step on what the real engine reads from rendered column pages: the flow's order comes back."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.document.layout import build_page
from edge_runtime.document.structure import BlockKind, Page
from edge_runtime.evaluation.metrics import reading_order_ned, text_in_reading_order
from edge_runtime.types import OcrResult
from tests.conftest import get_engine
from tests.edge_runtime.document.pages import Rendered, column_page, receipt


def _read(rendered: Rendered) -> tuple[Page, OcrResult]:
    """The page as FP32 reads it: the same boxes whatever precision the host's gate chose for serving."""
    result = get_engine(precision="fp32").recognize(np.asarray(rendered.image)[:, :, ::-1].copy())  # BGR, as decoded
    return build_page(result.lines, result.width, result.height), result


@pytest.mark.parametrize(("columns", "abstract", "turns"), [(2, False, 0), (3, True, 0), (2, False, 1)])
def test_engine_lines_read_in_column_order(columns: int, abstract: bool, turns: int) -> None:
    rendered = column_page(seed=21 + columns, columns=columns, abstract=abstract, page_number="5").rotated(turns)
    page, result = _read(rendered)
    truth = " ".join(rendered.words)
    ours = reading_order_ned(" ".join(w.text for w in page.words()), truth)
    rows = reading_order_ned(text_in_reading_order([(ln.text, ln.polygon) for ln in result.lines]), truth)
    assert rows > 0.5  # top to bottom interleaves the columns
    assert ours < 0.05 and ours < rows / 10
    kinds = [b.kind for b in page.blocks]
    assert kinds[:2] == [BlockKind.HEADER] * 2 and kinds[-2:] == [BlockKind.FOOTER, BlockKind.PAGE_NUMBER]
    assert kinds[2] is BlockKind.TITLE and kinds.count(BlockKind.TEXT) == columns + int(abstract)


def test_engine_receipt_keeps_its_rows() -> None:
    rendered = receipt(seed=1)
    page, _ = _read(rendered)
    assert reading_order_ned(" ".join(w.text for w in page.words()), " ".join(rendered.words)) < 0.05
    # one block of rows (the shop's name may stand apart as a title: the detector's boxes flatten print sizes)
    assert [b.kind for b in page.blocks if b.kind is not BlockKind.TITLE] == [BlockKind.TEXT]
