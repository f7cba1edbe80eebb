"""A PDF page's own text layer: its characters grouped into words and lines, placed in the rendered page image's
pixels, and whether it can be trusted instead of OCR (mode AUTO | IGNORE | ONLY, with the reason)."""

from __future__ import annotations

import ctypes
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from edge_runtime.document.structure import Break, DocLine, DocWord, bbox_of
from edge_runtime.types import Point

__all__ = ["TextLayerMode", "TextLayer", "TextLayerDecision", "page_transform", "read_text_layer", "decide"]

UNMAPPED_SHARE = 0.10  # more unmapped glyphs than this and the text would read as garbage
INVISIBLE_SHARE = 0.50  # mostly invisible text: an OCR layer another tool laid over a scan
_INVISIBLE = 3  # PDF text render mode 3 (neither fill nor stroke), FPDF_TEXTRENDERMODE_INVISIBLE
_LINE_ENDS = "\r\n"


class TextLayerMode(StrEnum):
    """How a PDF's text layer is used: AUTO (where trustworthy), IGNORE (always OCR), ONLY (never OCR)."""

    AUTO = "auto"
    IGNORE = "ignore"
    ONLY = "only"


@dataclass(frozen=True)
class TextLayer:
    """A page's text layer: lines of words (confidence 1.0, axis-aligned boxes in page-image pixels), each word's
    break SPACE or LINE (paragraphs are the layout step's to find), and counts to judge it by."""

    lines: tuple[DocLine, ...]
    chars: int  # characters drawn on the page (not counting the spaces and line ends PDFium inserts)
    unmapped: int  # of them: no Unicode mapping, U+FFFD, private-use or control characters
    invisible: int  # of them: drawn in render mode 3 (invisible)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class TextLayerDecision:
    """Whether a page's text is read from its text layer (``use``), and the assessment behind it.

    ``reason``: TRUSTED, NO_TEXT, UNMAPPED_GLYPHS or INVISIBLE_TEXT, whatever the mode; ``use`` follows the mode
    (AUTO: trusted; IGNORE: never; ONLY: always, even an untrusted or empty layer).
    """

    use: bool
    trusted: bool
    reason: str
    invisible: bool  # the layer is mostly invisible text (an OCR layer written by another tool)


def page_transform(page: pdfium.PdfPage, scale: float) -> np.ndarray:
    """The 2x3 affine that maps PDF user-space points of ``page`` to pixels of it rendered at ``scale`` (DPI / 72).

    Asked of PDFium itself (FPDF_PageToDevice), so the crop box's origin and the page's /Rotate are the renderer's;
    PDFium answers in whole device pixels, so the device is asked 1000x larger and scaled back.
    """
    width, height = page.get_size()
    big = 1000.0
    size_x, size_y = round(width * scale * big), round(height * scale * big)

    def to_device(x: float, y: float) -> tuple[float, float]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(page, 0, 0, size_x, size_y, 0, x, y, dx, dy)
        return dx.value / big, dy.value / big

    x0, y0 = page.get_bbox()[:2]
    ox, oy = to_device(x0, y0)
    ux, uy = to_device(x0 + big, y0)
    vx, vy = to_device(x0, y0 + big)
    a, b = (ux - ox) / big, (uy - oy) / big  # pixels per point along the page's x axis
    c, d = (vx - ox) / big, (vy - oy) / big  # pixels per point along its y axis
    return np.array([[a, c, ox - a * x0 - c * y0], [b, d, oy - b * x0 - d * y0]])


def pixel_box(transform: np.ndarray, left: float, bottom: float, right: float, top: float) -> tuple[Point, ...]:
    """A PDF rectangle as the clockwise 4-point box around it in page-image pixels."""
    corners = np.array([[left, bottom, 1.0], [right, bottom, 1.0], [right, top, 1.0], [left, top, 1.0]])
    xy = corners @ transform.T
    x_lo, y_lo = xy.min(axis=0)
    x_hi, y_hi = xy.max(axis=0)
    x0, y0, x1, y1 = float(x_lo), float(y_lo), float(x_hi), float(y_hi)
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _unmapped(textpage: pdfium.PdfTextPage, index: int, char: str) -> bool:
    if pdfium_c.FPDFText_HasUnicodeMapError(textpage, index) == 1 or char == "\ufffd":
        return True
    return unicodedata.category(char) in ("Co", "Cc", "Cs", "Cn")


def _invisible(textpage: pdfium.PdfTextPage, index: int) -> bool:
    obj = pdfium_c.FPDFText_GetTextObject(textpage, index)
    return bool(obj) and pdfium_c.FPDFTextObj_GetTextRenderMode(obj) == _INVISIBLE


def _word(chars: list[str], boxes: list[tuple[Point, ...]], brk: Break) -> DocWord:
    return DocWord(text="".join(chars), confidence=1.0, polygon=bbox_of(boxes), brk=brk)


def read_text_layer(textpage: pdfium.PdfTextPage, transform: np.ndarray) -> TextLayer:
    """The characters of ``textpage`` as words (split at spaces) and lines (split where PDFium puts a line end),
    in the text layer's own order, each box the union of its characters' loose (font-height) boxes."""
    lines: list[DocLine] = []
    words: list[DocWord] = []
    chars: list[str] = []
    boxes: list[tuple[Point, ...]] = []
    counted = unmapped = invisible = 0

    def end_word(brk: Break) -> None:
        if chars:
            words.append(_word(chars, boxes, brk))
            chars.clear()
            boxes.clear()

    def end_line() -> None:
        end_word(Break.LINE)
        if words:
            if words[-1].brk is not Break.HYPHEN:
                words[-1] = DocWord(words[-1].text, 1.0, words[-1].polygon, Break.LINE)
            polygon = bbox_of([w.polygon for w in words])
            lines.append(DocLine(" ".join(w.text for w in words), 1.0, polygon, tuple(words)))
            words.clear()

    rect = pdfium_c.FS_RECTF()
    for index in range(textpage.count_chars()):
        char = chr(pdfium_c.FPDFText_GetUnicode(textpage, index) or 0xFFFD)
        if char in _LINE_ENDS:
            end_line()
            continue
        if char.isspace() or char == "\x00":
            end_word(Break.SPACE)
            continue
        if pdfium_c.FPDFText_IsGenerated(textpage, index) == 1:
            continue  # nothing PDFium makes up besides spaces and line ends is text the page draws
        counted += 1
        unmapped += _unmapped(textpage, index, char)
        invisible += _invisible(textpage, index)
        if not pdfium_c.FPDFText_GetLooseCharBox(textpage, index, rect):
            continue
        chars.append(char)
        boxes.append(pixel_box(transform, rect.left, rect.bottom, rect.right, rect.top))
        if pdfium_c.FPDFText_IsHyphen(textpage, index) == 1:
            end_word(Break.HYPHEN)
    end_line()
    return TextLayer(lines=tuple(lines), chars=counted, unmapped=unmapped, invisible=invisible)


def decide(layer: TextLayer | None, mode: TextLayerMode) -> TextLayerDecision:
    """Trust a text layer that has text, mostly mapped to Unicode, mostly visible; ``mode`` then decides use."""
    if layer is None or layer.chars == 0:
        trusted, reason = False, "NO_TEXT"
    elif layer.unmapped > UNMAPPED_SHARE * layer.chars:
        trusted, reason = False, "UNMAPPED_GLYPHS"
    elif layer.invisible > INVISIBLE_SHARE * layer.chars:
        trusted, reason = False, "INVISIBLE_TEXT"
    else:
        trusted, reason = True, "TRUSTED"
    invisible = layer is not None and layer.chars > 0 and layer.invisible > INVISIBLE_SHARE * layer.chars
    use = {TextLayerMode.AUTO: trusted, TextLayerMode.IGNORE: False, TextLayerMode.ONLY: True}[mode]
    return TextLayerDecision(use=use, trusted=trusted, reason=reason, invisible=invisible)
