"""A searchable PDF: each page's image under an invisible text layer placed word by word, or, given the source PDF,
its own pages: born-digital ones copied as they are, scanned ones with the text layer laid over the original scan.

Words are drawn in text render mode 3 (invisible) with the glyphless font, each scaled horizontally (Tz) to its
box and turned along its polygon's baseline, so that selecting, searching and ``pdftotext``/pypdfium2 extraction
find every word where the page shows it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pikepdf
from PIL import Image, ImageOps

from edge_runtime.document.export import glyphless
from edge_runtime.document.structure import DocLine, Page, TextSource
from edge_runtime.types import Point

__all__ = ["write_pdf", "MissingPageImageError", "DEFAULT_DPI", "JPEG_QUALITY"]

DEFAULT_DPI = 300.0  # an image's resolution when nobody said (Tesseract's default): sets the PDF page's size
JPEG_QUALITY = 90  # decoded page images' encoding: scans are photographs of paper; lossless would be 5-10x larger
_EXIF_ORIENTATION = 0x0112

# Pixel of the page image -> PDF user space.
Transform = Callable[[float, float], tuple[float, float]]


class MissingPageImageError(ValueError):
    """A page must be drawn from its image (no source PDF, or a page mixing text layer and OCR) and none was given:
    the caller's mistake, not the document's."""


def write_pdf(
    pages: Iterable[Page],
    out: str | Path | BinaryIO,
    image_of: Callable[[Page], np.ndarray | bytes] | None = None,
    source: str | Path | bytes | None = None,
    password: str = "",
) -> None:
    """Write ``pages`` as one searchable PDF to ``out`` (a path or a binary stream).

    ``image_of(page)`` gives a page's image, asked for only when the page is drawn from its image: the file's
    bytes (a JPEG is then embedded as it is) or the pixels as read (BGR or gray uint8). With ``source`` (the PDF
    the pages were read from; ``Page.number`` is its page number) a page whose text came from the text layer is
    copied unchanged, and a page that was OCR'd (or failed) keeps the source's page (its original scan, at its
    original quality) with the text layer laid over it. A page that mixes text layer and OCR keeps the source's
    page too, with only its OCR words added, when each word says where it came from (``DocWord.source``);
    otherwise it is drawn from its image with all its words as text. Either way no word is in the text twice.
    """
    with pikepdf.new() as pdf, _open(source, password) as src:
        font = glyphless.font(pdf)
        for page in pages:
            if src is not None and (page.source is not TextSource.MIXED or _sourced(page)):
                pdf.pages.append(src.pages[page.number - 1])
                target = pdf.pages[-1]
                ocr = _ocr_words(page)
                if ocr.words():
                    _overlay(pdf, target, ocr, font, _source_transform(src.pages[page.number - 1], page))
            else:
                if image_of is None:
                    raise MissingPageImageError(f"page {page.number} needs its image")
                _image_page(pdf, page, image_of(page), font)
        pdf.save(out, deterministic_id=True)  # the same pages give the same bytes (batch runs verify outputs)


def _sourced(page: Page) -> bool:
    """Whether every word of the page says where it came from (text layer or OCR)."""
    return all(word.source is not None for word in page.words())


def _ocr_words(page: Page) -> Page:
    """The page with only the words the source PDF does not hold as text: all of an OCR'd page, none of one read
    from the text layer, the OCR words of a mixed page."""
    if page.source is not TextSource.MIXED:
        return page if page.source is TextSource.OCR else replace(page, blocks=())
    blocks = []
    for block in page.blocks:
        paragraphs = []
        for paragraph in block.paragraphs:
            lines = []
            for line in paragraph.lines:
                words = tuple(w for w in line.words if w.source is TextSource.OCR)
                if words:
                    lines.append(replace(line, words=words))
            if lines:
                paragraphs.append(replace(paragraph, lines=tuple(lines)))
        if paragraphs:
            blocks.append(replace(block, paragraphs=tuple(paragraphs)))
    return replace(page, blocks=tuple(blocks))


def _open(source: str | Path | bytes | None, password: str) -> AbstractContextManager[pikepdf.Pdf | None]:
    if source is None:
        return nullcontext()
    return pikepdf.open(io.BytesIO(source) if isinstance(source, bytes) else source, password=password)


def _image_page(pdf: pikepdf.Pdf, page: Page, image: np.ndarray | bytes, font: pikepdf.Object) -> None:
    """A new page of the image's size at the page's resolution, the image filling it, the words over it."""
    scale = 72.0 / (page.dpi or DEFAULT_DPI)
    width, height = page.width * scale, page.height * scale
    target = pdf.add_blank_page(page_size=(width, height))
    xobject = _image_xobject(pdf, image)
    name = target.add_resource(xobject, pikepdf.Name.XObject, _free_name(target, pikepdf.Name.XObject, "Im"))
    target.contents_add(pikepdf.Stream(pdf, f"q {_num(width)} 0 0 {_num(height)} 0 0 cm {name} Do Q\n".encode()))
    _overlay(pdf, target, page, font, lambda x, y: (x * scale, height - y * scale))


def _image_xobject(pdf: pikepdf.Pdf, image: np.ndarray | bytes) -> pikepdf.Stream:
    """The page image as a PDF image: an upright RGB or gray JPEG file as it is (the original, not re-encoded),
    decoded pixels as a JPEG of them."""
    if isinstance(image, bytes):
        with Image.open(io.BytesIO(image)) as opened:
            upright = opened.getexif().get(_EXIF_ORIENTATION, 1) == 1  # a PDF viewer would not turn it
            if opened.format == "JPEG" and opened.mode in ("RGB", "L") and upright:
                return _jpeg(pdf, image, opened.width, opened.height, gray=opened.mode == "L")
            decoded = ImageOps.exif_transpose(opened).convert("L" if opened.mode in ("1", "L") else "RGB")
        pixels = np.asarray(decoded)
    elif image.ndim == 2 or bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()):
        pixels = image if image.ndim == 2 else image[..., 0]
    else:
        pixels = image[..., 2::-1]  # BGR -> RGB
    encoded = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(encoded, format="JPEG", quality=JPEG_QUALITY)
    return _jpeg(pdf, encoded.getvalue(), pixels.shape[1], pixels.shape[0], gray=pixels.ndim == 2)


def _jpeg(pdf: pikepdf.Pdf, data: bytes, width: int, height: int, gray: bool) -> pikepdf.Stream:
    return pikepdf.Stream(
        pdf,
        data,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=width,
        Height=height,
        ColorSpace=pikepdf.Name.DeviceGray if gray else pikepdf.Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=pikepdf.Name.DCTDecode,
    )


def _overlay(pdf: pikepdf.Pdf, target: pikepdf.Page, page: Page, font: pikepdf.Object, to_pdf: Transform) -> None:
    """Lay the page's words over ``target``'s content, which is wrapped in q/Q so that no state it leaves behind
    (a transform, a clip) moves the words."""
    name = target.add_resource(font, pikepdf.Name.Font, _free_name(target, pikepdf.Name.Font, "GlyphLessFont"))
    ops = ["BT", "3 Tr"]
    for block in page.blocks:
        for paragraph in block.paragraphs:
            for line in paragraph.lines:
                ops.extend(_line(line, str(name), to_pdf))
    ops.append("ET")
    target.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
    target.contents_add(pikepdf.Stream(pdf, ("Q\n" + "\n".join(ops) + "\n").encode("ascii")))


def _line(line: DocLine, font: str, to_pdf: Transform) -> list[str]:
    """Each word at its box; between two words a space stretched over the gap, so extraction sees the words apart
    without guessing from distances."""
    ops: list[str] = []
    placed = [(word, _frame(word.polygon, to_pdf)) for word in line.words if word.text.strip()]
    for i, (word, frame) in enumerate(placed):
        if frame is None:
            continue
        origin, (ux, uy), length, size = frame
        hex_text, codes = glyphless.encode(word.text)
        unit = glyphless.ADVANCE * size
        ops.append(f"{font} {_num(size)} Tf")
        ops.append(f"{_num(ux)} {_num(uy)} {_num(-uy)} {_num(ux)} {_num(origin[0])} {_num(origin[1])} Tm")
        ops.append(f"{_num(100 * length / (codes * unit))} Tz {hex_text} Tj")
        if i + 1 < len(placed) and (following := placed[i + 1][1]) is not None:
            # The gap along this word's baseline from its end to the next word's start; at least a sliver.
            end = (origin[0] + ux * length, origin[1] + uy * length)
            gap = (following[0][0] - end[0]) * ux + (following[0][1] - end[1]) * uy
            ops.append(f"{_num(100 * max(gap, 0.1 * size) / unit)} Tz <0020> Tj")
    return ops


def _frame(polygon: tuple[Point, ...], to_pdf: Transform) -> tuple[Point, Point, float, float] | None:
    """A word's baseline in PDF space: its origin (the polygon's bottom-left), unit direction, length and the
    height above it (the font size: the glyphless font's ascent is one em). None for a degenerate polygon."""
    if len(polygon) != 4:
        xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
        if not xs:
            return None
        polygon = ((min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys)))
    top_left, _, bottom_right, bottom_left = (to_pdf(x, y) for x, y in polygon)
    dx, dy = bottom_right[0] - bottom_left[0], bottom_right[1] - bottom_left[1]
    length = math.hypot(dx, dy)
    if length <= 0:
        return None
    ux, uy = dx / length, dy / length
    height = (top_left[0] - bottom_left[0]) * -uy + (top_left[1] - bottom_left[1]) * ux  # along the up direction
    if height <= 0:
        return None
    return bottom_left, (ux, uy), length, height


def _source_transform(source_page: pikepdf.Page, page: Page) -> Transform:
    """Pixel -> user space of a source page, as a renderer drew it: its crop box, turned by its /Rotate."""
    x0, y0, x1, y1 = (float(v) for v in source_page.cropbox)
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    rotate = int(source_page.obj.get("/Rotate", 0)) % 360  # qpdf has pushed inherited attributes to the page
    shown_w, shown_h = (y1 - y0, x1 - x0) if rotate in (90, 270) else (x1 - x0, y1 - y0)
    sx, sy = shown_w / page.width, shown_h / page.height

    def to_pdf(px: float, py: float) -> tuple[float, float]:
        dx, dy = px * sx, shown_h - py * sy  # the shown page, y up
        if rotate == 90:
            return x1 - dy, y0 + dx
        if rotate == 180:
            return x1 - dx, y1 - dy
        if rotate == 270:
            return x0 + dy, y1 - dx
        return x0 + dx, y0 + dy

    return to_pdf


def _free_name(target: pikepdf.Page, kind: pikepdf.Name, base: str) -> pikepdf.Name:
    """A resource name the page does not use yet, the same on every run (pikepdf's own prefix names are random,
    and the same pages must give the same bytes)."""
    resources = target.obj.get("/Resources")
    used = set(resources.get(kind, {}).keys()) if resources is not None else set()
    suffix = 0
    while f"/{base}{suffix or ''}" in used:
        suffix += 1
    return pikepdf.Name(f"/{base}{suffix or ''}")


def _num(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
