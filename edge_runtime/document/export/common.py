"""What the writers share: integer boxes from polygons, XML-safe text and the blocks outside the reading flow."""

from __future__ import annotations

import math
import re
from xml.sax.saxutils import escape, quoteattr

from edge_runtime.document.structure import Block, BlockKind, DocLine, Paragraph, bbox_of
from edge_runtime.types import Point

__all__ = ["OUTSIDE_FLOW", "box", "outline", "xml_text", "xml_attr"]

# Running headers, footers and page numbers: marked in the structure, left out of text and Markdown.
OUTSIDE_FLOW = frozenset({BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER})

# Characters XML 1.0 cannot carry at all (control characters a PDF text layer may hold): dropped, not escaped.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def box(polygon: tuple[Point, ...]) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` in whole pixels around ``polygon``: outward, so the box never cuts the text, and not
    below 0 (hOCR boxes are unsigned; a word detected at the image's edge may reach past it)."""
    if not polygon:
        return (0, 0, 0, 0)
    xs = [x for x, _ in polygon]
    ys = [y for _, y in polygon]
    x0, y0, x1, y1 = math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))
    return (max(0, x0), max(0, y0), max(0, x1), max(0, y1))


def outline(element: Block | Paragraph | DocLine) -> tuple[Point, ...]:
    """The element's polygon, or, when whoever built it left it empty, the rectangle around its words."""
    if element.polygon:
        return element.polygon
    if isinstance(element, DocLine):
        return bbox_of([w.polygon for w in element.words])
    lines = element.lines if isinstance(element, Paragraph) else [ln for p in element.paragraphs for ln in p.lines]
    return bbox_of([w.polygon for line in lines for w in line.words])


def xml_text(text: str) -> str:
    """``text`` as XML character data."""
    return escape(_NOT_XML.sub("", text))


def xml_attr(text: str) -> str:
    """``text`` as a quoted XML attribute value (quotes included)."""
    return quoteattr(_NOT_XML.sub("", text), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
