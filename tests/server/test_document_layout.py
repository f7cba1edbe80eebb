"""RecognizeDocument with layout asked for: a table comes back as cells in the page and as an HTML file; without
the option the same page has no layout kinds (a page that only needs text pays nothing)."""

from __future__ import annotations

import io

from clients.ocr_client.pb import ocr_pb2
from edge_runtime.evaluation.synth.tables import table_page
from tests.server.test_document_rpc import _call, _outputs, _pages


def _png() -> tuple[bytes, object]:
    tp = table_page(seed=8, rows=3, cols=3, ruled=True, span=False)
    out = io.BytesIO()
    tp.image.save(out, format="PNG")
    return out.getvalue(), tp


def test_layout_returns_the_table_and_its_html(client):
    data, tp = _png()
    responses = _call(client, data, layout=True, formats=[ocr_pb2.OUTPUT_FORMAT_HTML])
    (page,) = _pages(responses)
    tables = [b for b in page.blocks if b.kind == ocr_pb2.BLOCK_KIND_TABLE]
    assert len(tables) == 1
    table = tables[0].table
    assert (table.rows, table.columns) == (tp.rows, tp.cols) and not table.error
    assert [c.text for c in table.cells] == [c.text for c in tp.cells]
    html = _outputs(responses)[ocr_pb2.OUTPUT_FORMAT_HTML].decode()
    assert html.count("<table>") == 1 and html.count("<tr>") == tp.rows


def test_without_layout_there_is_no_table(client):
    data, _ = _png()
    (page,) = _pages(_call(client, data))
    assert not any(b.kind == ocr_pb2.BLOCK_KIND_TABLE or b.HasField("table") for b in page.blocks)
