"""HTML: titles and headings, paragraphs, figures, captions and tables (spans kept) in reading order; headers,
footers and page numbers left out, as in Markdown; each page a ``<section>``."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from edge_runtime.document.export.common import OUTSIDE_FLOW
from edge_runtime.document.structure import Block, BlockKind, Page, Table

__all__ = ["to_html"]

_CLASS = {BlockKind.CAPTION: "caption", BlockKind.FORMULA: "formula", BlockKind.LIST: "list"}


def to_html(pages: Iterable[Page]) -> str:
    """The pages as one HTML5 document."""
    body = "\n".join(_page(page) for page in pages)
    head = '<head><meta charset="utf-8"><title>document</title></head>'
    return f"<!DOCTYPE html>\n<html>\n{head}\n<body>\n{body}\n</body>\n</html>\n"


def _page(page: Page) -> str:
    parts = [f'<section class="page" data-page="{page.number}">']
    parts += [_block(b) for b in page.blocks if b.kind not in OUTSIDE_FLOW]
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _block(block: Block) -> str:
    if block.table is not None and block.table.cells:
        return table_html(block.table)
    if block.kind in (BlockKind.TITLE, BlockKind.HEADING):
        tag = "h1" if block.kind is BlockKind.TITLE else "h2"
        text = " ".join(p.text for p in block.paragraphs)
        return f"<{tag}>{escape(text)}</{tag}>" if text else ""
    attr = f' class="{_CLASS[block.kind]}"' if block.kind in _CLASS else ""
    paras = "\n".join(f"<p{attr}>{escape(p.text)}</p>" for p in block.paragraphs if p.text)
    return f"<figure>\n{paras}\n</figure>" if block.kind is BlockKind.FIGURE and paras else paras


def table_html(table: Table) -> str:
    """A ``<table>`` of the cells, row by row, with ``rowspan``/``colspan`` where a cell spans."""
    rows: list[list[str]] = [[] for _ in range(table.rows)]
    for cell in table.cells:
        span = (f' rowspan="{cell.row_span}"' if cell.row_span > 1 else "") + (
            f' colspan="{cell.col_span}"' if cell.col_span > 1 else ""
        )
        rows[cell.row].append(f"<td{span}>{escape(cell.text)}</td>")
    body = "\n".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table>\n{body}\n</table>"
