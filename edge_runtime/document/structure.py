"""The structure of a read page: page -> block -> paragraph -> line -> word, in reading order.

Plain frozen dataclasses like ``edge_runtime.types``: the layout step builds them from a page's lines (OCR) or
from its PDF text layer, the writers (text, Markdown, hOCR, ALTO, searchable PDF) only read them, and the server
converts them to the ``ocr.v1`` page message. Coordinates are pixels of the page image the page was read at
(``Page.width`` x ``Page.height``; for a PDF page, rendered at ``Page.dpi``), polygons clockwise from the text's
own top-left corner, as everywhere in the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edge_runtime.types import Point

__all__ = [
    "Break",
    "BlockKind",
    "TableCell",
    "Table",
    "TextSource",
    "DocWord",
    "DocLine",
    "Paragraph",
    "Block",
    "Page",
    "bbox_of",
]


class Break(StrEnum):
    """What follows a word: how the words of a paragraph join back into its text."""

    SPACE = "space"  # a space, on the same line
    LINE = "line"  # the end of a line inside a paragraph (joins with a space)
    HYPHEN = "hyphen"  # the end of a line that breaks the word with a hyphen (joins with nothing)
    PARAGRAPH = "paragraph"  # the last word of a paragraph
    NONE = "none"  # nothing (the last word of the page)


class BlockKind(StrEnum):
    """What a block is on its page; the set a layout model adds to later (title, table, figure, ...)."""

    TEXT = "text"
    TITLE = "title"
    HEADING = "heading"
    LIST = "list"
    HEADER = "header"  # running header: repeated at the top of pages, not part of the reading flow
    FOOTER = "footer"  # running footer
    PAGE_NUMBER = "page_number"
    # from the layout model (``layout_model``), when a call asks for layout regions
    TABLE = "table"  # its cells in ``Block.table``
    FIGURE = "figure"  # a picture or chart; text read inside it stays in the block
    CAPTION = "caption"  # a figure's or a table's caption
    FORMULA = "formula"


class TextSource(StrEnum):
    """Where a page's text came from."""

    OCR = "ocr"  # the page image was read by the models
    TEXT_LAYER = "text_layer"  # copied from the PDF's own text layer, no OCR
    MIXED = "mixed"  # the text layer where it is trustworthy, OCR for the rest (each word once)


@dataclass(frozen=True)
class DocWord:
    text: str
    confidence: float
    polygon: tuple[Point, ...]
    brk: Break = Break.SPACE
    # Where this word came from when its page is MIXED (None: as its page says). The searchable PDF keeps such a
    # page from the source PDF and adds only its OCR words, once each page's words all say.
    source: TextSource | None = None


@dataclass(frozen=True)
class DocLine:
    text: str
    confidence: float
    polygon: tuple[Point, ...]
    words: tuple[DocWord, ...]
    angle: int = 0  # reading direction in the page image, degrees: 0, 90, 180 or 270


@dataclass(frozen=True)
class Paragraph:
    lines: tuple[DocLine, ...]
    polygon: tuple[Point, ...]

    @property
    def text(self) -> str:
        """The words joined by their breaks: a space between words and lines, nothing after a hyphen break."""
        parts: list[str] = []
        for line in self.lines:
            for word in line.words:
                parts.append(word.text)
                if word.brk in (Break.SPACE, Break.LINE):
                    parts.append(" ")
                elif word.brk is Break.HYPHEN and word.text.endswith("-"):
                    parts[-1] = word.text[:-1]
        return "".join(parts).strip()

    @property
    def confidence(self) -> float:
        words = [w for line in self.lines for w in line.words]
        return sum(w.confidence for w in words) / len(words) if words else 0.0


@dataclass(frozen=True)
class TableCell:
    """One cell of a table: where it starts in the grid, how many rows and columns it spans, and what was read in it
    (empty for an empty cell)."""

    row: int  # 0-based
    col: int
    row_span: int
    col_span: int
    text: str
    confidence: float
    polygon: tuple[Point, ...]


@dataclass(frozen=True)
class Table:
    """A table region as rows x columns of cells, each grid position covered by exactly one cell; ``error`` is a
    stable reason when the region was not cut into cells (then ``cells`` is empty and the block keeps its text)."""

    rows: int
    cols: int
    cells: tuple[TableCell, ...]
    polygon: tuple[Point, ...]
    error: str = ""
    ruled: bool = False  # its columns came from ruling lines drawn on the page, not from the words' alignment


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    paragraphs: tuple[Paragraph, ...]
    polygon: tuple[Point, ...]
    table: Table | None = None  # a TABLE block's cells (its paragraphs still hold its lines, in reading order)

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.paragraphs)

    @property
    def confidence(self) -> float:
        words = [w for p in self.paragraphs for line in p.lines for w in line.words]
        return sum(w.confidence for w in words) / len(words) if words else 0.0


@dataclass(frozen=True)
class Page:
    """One page, its blocks in reading order (running headers, footers and page numbers included, marked)."""

    number: int  # 1-based, in the document
    width: int
    height: int
    blocks: tuple[Block, ...]
    source: TextSource = TextSource.OCR
    dpi: float = 0.0  # the resolution a PDF page was rendered at (0 for an image)
    error: str = ""  # a stable reason when the page could not be read; its blocks are then empty

    @property
    def text(self) -> str:
        """Reading order: the flow's blocks (headers, footers and page numbers left out), paragraphs apart by a
        blank line."""
        flow = (BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER)
        return "\n\n".join(p.text for b in self.blocks if b.kind not in flow for p in b.paragraphs)

    def words(self) -> list[DocWord]:
        return [w for b in self.blocks for p in b.paragraphs for line in p.lines for w in line.words]


def bbox_of(polygons: list[tuple[Point, ...]] | tuple[tuple[Point, ...], ...]) -> tuple[Point, ...]:
    """The axis-aligned rectangle around ``polygons`` as a clockwise 4-point polygon (empty for none)."""
    xs = [x for poly in polygons for x, _ in poly]
    ys = [y for poly in polygons for _, y in poly]
    if not xs:
        return ()
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
