"""Markdown: titles and headings, paragraphs, lists and tables in reading order; headers, footers and page numbers left
out; each page opened by a comment with its number, pages apart by a horizontal rule."""

from __future__ import annotations

import re
from collections.abc import Iterable

from edge_runtime.document.export.common import OUTSIDE_FLOW
from edge_runtime.document.structure import Block, BlockKind, DocLine, Page, Paragraph, Table

__all__ = ["to_markdown"]

# A list item's marker at the start of a line: a bullet, or a number with "." or ")"; in a block the layout marked
# as a list, a letter too ("a)", "B."), which in running text is more often an initial ("A. Smith").
_BULLET = re.compile(r"^[-*+•◦▪·–]\s+")
_NUMBERED = re.compile(r"^(\d{1,3})[.)]\s+")
_LETTERED = re.compile(r"^([a-zA-Z])[.)]\s+")
# Markdown syntax inside recognised text, escaped so that the text reads back as itself.
_INLINE = re.compile(r"([\\`*_\[\]<|])")
_LEADING = re.compile(r"^(#{1,6}\s|[-+*]\s|>|(\d+)([.)])\s)")


def to_markdown(pages: Iterable[Page]) -> str:
    """The pages as one Markdown document (CommonMark)."""
    parts = [_page(page) for page in pages]
    return "\n---\n\n".join(parts)


def _page(page: Page) -> str:
    chunks = [f"<!-- page {page.number} -->"]
    for block in page.blocks:
        if block.kind not in OUTSIDE_FLOW:
            chunks.extend(_block(block))
    return "\n\n".join(c for c in chunks if c) + "\n"


def _block(block: Block) -> list[str]:
    if block.table is not None and block.table.cells:
        return [_table(block.table)]
    if block.kind in (BlockKind.TITLE, BlockKind.HEADING):
        text = " ".join(p.text for p in block.paragraphs)
        return [("# " if block.kind is BlockKind.TITLE else "## ") + _escape(text)] if text else []
    out: list[str] = []
    in_list = False  # consecutive list paragraphs make one (tight) list, not one list each
    for paragraph in block.paragraphs:
        items = _list_items(paragraph, force=block.kind is BlockKind.LIST)
        if items and in_list:
            out[-1] += "\n" + "\n".join(items)
        elif items:
            out.append("\n".join(items))
        elif paragraph.text:
            out.append(_escape(paragraph.text))
        in_list = bool(items) or (in_list and not paragraph.text)
    return out


def _table(table: Table) -> str:
    """A GFM table, its first row the header row. Markdown has no spans: a spanning cell's text is in its first
    column and the columns it covers are left empty (``--to html`` keeps the spans)."""
    grid = [["" for _ in range(table.cols)] for _ in range(table.rows)]
    for cell in table.cells:
        grid[cell.row][cell.col] = _escape_inline(" ".join(cell.text.split()))
    rows = ["| " + " | ".join(row) + " |" for row in grid]
    return "\n".join([rows[0], "|" + " --- |" * table.cols, *rows[1:]])


def _list_items(paragraph: Paragraph, force: bool) -> list[str]:
    """The paragraph as list items when its first line opens with a list marker (or its block is a list): a line
    with a marker starts an item, the lines after it continue that item. Empty when it is not a list."""
    if not paragraph.lines or not (force or _marker(paragraph.lines[0].text, letters=False)):
        return []
    groups: list[list[DocLine]] = []
    for line in paragraph.lines:
        if not groups or _marker(line.text, letters=force):
            groups.append([])
        groups[-1].append(line)
    items = []
    for group in groups:
        text = Paragraph(lines=tuple(group), polygon=()).text  # the lines joined by their words' breaks
        numbered = _NUMBERED.match(text)
        marker = numbered or _BULLET.match(text) or (_LETTERED.match(text) if force else None)
        body = _escape_inline(text[marker.end() :] if marker else text)
        # Numbers stay numbers (Markdown numbers on from the first); bullets and letters become "- " items.
        items.append(f"{numbered.group(1)}. {body}" if numbered else f"- {body}")
    return items


def _marker(text: str, letters: bool) -> bool:
    return bool(_BULLET.match(text) or _NUMBERED.match(text) or (letters and _LETTERED.match(text)))


def _escape_inline(text: str) -> str:
    return _INLINE.sub(r"\\\1", text)


def _escape(text: str) -> str:
    """Recognised text as a paragraph that renders as itself: inline syntax escaped, and a line start that Markdown
    would read as a heading, a list item or a quote escaped too."""
    text = _escape_inline(text)
    match = _LEADING.match(text)
    if not match:
        return text
    if match.group(2):  # "12. " -> "12\. "
        return text[: match.start(3)] + "\\" + text[match.start(3) :]
    return "\\" + text
