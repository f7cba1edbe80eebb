"""Tables: rendered tables read back as rows x columns with their text (from the words as drawn, and through the
engine and the layout model), their HTML/Markdown/JSON forms, and hostile tables bounded."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from edge_runtime.document.export.html import table_html
from edge_runtime.document.export.markdown import to_markdown
from edge_runtime.document.layout_model import load_layout_model
from edge_runtime.document.reader import read_page
from edge_runtime.document.regions import apply_regions
from edge_runtime.document.sources import SourcePage
from edge_runtime.document.structure import Block, BlockKind, DocLine, DocWord, Page, Paragraph, Table
from edge_runtime.document.tables import MAX_CELLS, build_table
from edge_runtime.evaluation.synth.tables import TablePage, table_page
from edge_runtime.messages import page_json
from tests.conftest import get_engine


def _bgr(tp: TablePage) -> np.ndarray:
    return np.asarray(tp.image)[:, :, ::-1].copy()


def _words(tp: TablePage) -> list[DocWord]:
    x0, y0, x1, y1 = tp.box
    out = []
    for ln in tp.lines:
        for w in ln.words:
            cx, cy = sum(x for x, _ in w.polygon) / 4, sum(y for _, y in w.polygon) / 4
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                out.append(DocWord(w.text, 1.0, w.polygon))
    return out


def _right(table, tp: TablePage) -> float:
    got = {(c.row, c.col, c.col_span): c.text for c in table.cells}
    wanted = [c for c in tp.cells if c.text]
    return sum(got.get((c.row, c.col, c.col_span)) == c.text for c in wanted) / len(wanted)


@pytest.mark.parametrize("ruled", [True, False])
def test_drawn_table_reads_back_as_its_grid(ruled: bool) -> None:
    tp = table_page(seed=7, rows=5, cols=4, ruled=ruled, span=False)
    table = build_table(_words(tp), tp.box, _bgr(tp))
    assert (table.rows, table.cols) == (tp.rows, tp.cols)
    assert _right(table, tp) == 1.0
    covered = sorted((c.row, k) for c in table.cells for k in range(c.col, c.col + c.col_span))
    assert covered == [(r, k) for r in range(table.rows) for k in range(table.cols)]  # each position once


def test_ruled_group_header_spans_its_columns() -> None:
    tp = table_page(seed=2, rows=4, cols=4, ruled=True, span=True)
    table = build_table(_words(tp), tp.box, _bgr(tp))
    spans = [c for c in table.cells if c.col_span > 1]
    assert [(c.row, c.col, c.col_span, c.text.split()[0]) for c in spans] == [(0, 1, 2, "Quarter")]
    html = table_html(table)
    assert '<td colspan="2">Quarter' in html and html.count("<tr>") == tp.rows


def test_engine_and_layout_model_read_a_rendered_table() -> None:
    tp = table_page(seed=5, rows=5, cols=4, ruled=True, span=True)
    image = _bgr(tp)
    page = read_page(SourcePage(1, image, image.shape[1], image.shape[0]), get_engine(precision="fp32"))
    laid = apply_regions(page, load_layout_model().regions(image), image)
    tables = [b for b in laid.blocks if b.kind is BlockKind.TABLE]
    assert len(tables) == 1 and tables[0].table is not None
    table = tables[0].table
    assert (table.rows, table.cols) == (tp.rows, tp.cols)
    assert _right(table, tp) >= 0.9
    cells = page_json(laid)["blocks"][[b.kind for b in laid.blocks].index(BlockKind.TABLE)]["table"]["cells"]
    assert len(cells) == len(table.cells) and all(len(c["polygon"]) == 4 for c in cells)
    markdown = to_markdown([laid])
    assert "| --- |" in markdown and f"| {tp.cells[-1].text} |" in markdown


def _grid_words(rows: int, cols: int, size: float = 10.0) -> list[DocWord]:
    out = []
    for r in range(rows):
        for c in range(cols):
            x, y = c * size * 3, r * size * 2
            out.append(DocWord(f"{r}.{c}", 1.0, ((x, y), (x + size, y), (x + size, y + size), (x, y + size))))
    return out


def test_ten_thousand_cells_are_cut_in_bounded_memory() -> None:
    words = _grid_words(100, 100)
    tracemalloc.start()
    table = build_table(words, (0, 0, 3000, 2000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (table.rows, table.cols, len(table.cells)) == (100, 100, 10_000) and not table.error
    assert peak < 64 * 2**20


def test_five_thousand_tiny_boxes_stay_bounded() -> None:
    def tiny(i: int) -> DocWord:
        x, y = (i % 70) * 4.0, (i // 70) * 4.0
        return DocWord("x", 1.0, ((x, y), (x + 2, y), (x + 2, y + 2), (x, y + 2)))

    table = build_table([tiny(i) for i in range(5000)], (0, 0, 300, 300))
    assert table.error or len(table.cells) <= MAX_CELLS
    assert sum(c.text.count("x") for c in table.cells) == (0 if table.error else 5000)  # no word lost or doubled


def test_a_grid_past_the_limit_is_refused_with_a_reason() -> None:
    table = build_table(_grid_words(150, 150), (0, 0, 4500, 3000))
    assert table.error == "TABLE_TOO_LARGE" and not table.cells
    assert MAX_CELLS < 150 * 150


def test_a_refused_table_keeps_its_text_in_markdown() -> None:
    words = [DocWord("kept", 1.0, ((0, 0), (9, 0), (9, 9), (0, 9)))]
    line = DocLine("kept", 1.0, words[0].polygon, tuple(words))
    refused = Table(0, 0, (), (), "TABLE_TOO_LARGE")
    page = Page(1, 100, 100, (Block(BlockKind.TABLE, (Paragraph((line,), line.polygon),), (), refused),))
    assert "kept" in to_markdown([page])
    assert page_json(page)["blocks"][0]["table"]["error"] == "TABLE_TOO_LARGE"


def test_document_command_writes_the_table_as_html(tmp_path, capsys) -> None:
    from edge_runtime.document.cli import main

    tp = table_page(seed=6, rows=3, cols=3, ruled=True, span=True)
    tp.image.save(tmp_path / "table.png")
    assert main([str(tmp_path / "table.png"), "--to", "html", "--layout", "--threads", "1"]) == 0
    html = capsys.readouterr().out
    assert html.count("<table>") == 1 and '<td colspan="2">Quarter' in html
    assert html.count("<tr>") == tp.rows
