"""Open a PDF, a multi-page TIFF or an image as a sequence of pages read one at a time: each page's BGR image
(a PDF page rendered at a DPI chosen for the detector), and for a PDF its text layer, the areas its images cover,
and whether its text layer is used.

Everything that can be known before the first page is checked at open (size, format, Flate streams that inflate
past a limit, encryption, page or frame count, page ranges) and raises InvalidDocumentError; what goes wrong with
one page (too many pixels, an embedded image bomb, a page PDFium cannot render, one past ``max_pages``) comes back
as that page's ``error`` and the next page is still read. Only one page's pixels are held at a time. PDFium is not
thread-safe: one document per thread.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageOps, UnidentifiedImageError

from edge_runtime.document.limits import POINTS_PER_INCH, DocumentLimits, choose_dpi, select_pages
from edge_runtime.document.pdfscan import check_streams
from edge_runtime.document.textlayer import (
    TextLayer,
    TextLayerDecision,
    TextLayerMode,
    decide,
    page_transform,
    pixel_box,
    read_text_layer,
)
from edge_runtime.errors import InvalidDocumentError, InvalidImageError
from edge_runtime.imageio import ALLOWED_FORMATS, _to_bgr, decode_image
from edge_runtime.types import Point

__all__ = ["DocumentKind", "DocumentOptions", "SourcePage", "Document", "open_document", "PDFIUM_LOCK"]

# PDFium is not thread-safe, not even across documents: every call into it in this process (opening, rendering a
# page, reading its text layer, closing) holds this lock, so documents read on several threads (the server) are safe.
PDFIUM_LOCK = threading.RLock()

_PDF_MAGIC = b"%PDF-"
_PDF_HEADER_WINDOW = 1024  # the header may follow some junk; readers look this far, as PDFium does
_MAX_FORM_DEPTH = 8  # Form XObjects nested deeper than this are not searched for images (nesting bombs)
_IMAGE_OBJECT = (pdfium_c.FPDF_PAGEOBJ_IMAGE,)
SCAN_COVER = 0.9  # an image over this share of the page's area makes the page a scan, rendered at the scan's dpi


class DocumentKind(StrEnum):
    PDF = "pdf"
    TIFF = "tiff"
    IMAGE = "image"


@dataclass(frozen=True)
class DocumentOptions:
    """What the caller asks of one document: which pages ("1-3,7"; empty: all), how its text layer is used, and
    the password of an encrypted PDF; ``layout``: name each block by the layout model's regions and cut tables
    into cells (off by default: a page that only needs text pays nothing for it)."""

    pages: str = ""
    text_layer: TextLayerMode = TextLayerMode.AUTO
    password: str | None = None
    layout: bool = False


@dataclass(frozen=True)
class SourcePage:
    """One page as read from the document, before any OCR or layout.

    ``image`` is BGR uint8 (None when ``error`` says why the page was refused). ``dpi``: what a PDF page was
    rendered at (0 for a TIFF frame or an image). ``text_layer``, ``decision`` and ``image_areas`` exist for PDF
    pages only; ``image_areas`` are the page-pixel boxes of its image objects, where a text layer may miss text.
    """

    number: int  # 1-based, in the document
    image: np.ndarray | None
    width: int
    height: int
    dpi: float = 0.0
    text_layer: TextLayer | None = None
    decision: TextLayerDecision | None = None
    image_areas: tuple[tuple[Point, ...], ...] = field(default=())
    error: str = ""  # a stable reason (PAGE_TOO_LARGE, TOO_MANY_PAGES, PAGE_UNREADABLE); empty when read
    message: str = ""


class Document:
    """An opened document: ``kind``, ``page_count`` (in the file), ``selected`` (the page numbers to read); iterate
    it for its pages, once, in page order. Close it (or use ``with``) to free PDFium's or Pillow's handle."""

    def __init__(
        self,
        kind: DocumentKind,
        page_count: int,
        selected: tuple[int, ...],
        pages: Iterator[SourcePage],
        closer: object,
    ) -> None:
        self.kind = kind
        self.page_count = page_count
        self.selected = selected
        self._pages = pages
        self._closer = closer

    def __iter__(self) -> Iterator[SourcePage]:
        return _locked(self._pages)

    def close(self) -> None:
        close = getattr(self._closer, "close", None)
        if close is not None:
            with PDFIUM_LOCK:
                close()

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _locked(pages: Iterator[SourcePage]) -> Iterator[SourcePage]:
    """``pages``, each produced under PDFIUM_LOCK (rendering, text extraction), none held between pages."""
    while True:
        with PDFIUM_LOCK:
            page = next(pages, None)
        if page is None:
            return
        yield page


def open_document(
    data: bytes, options: DocumentOptions | None = None, limits: DocumentLimits | None = None
) -> Document:
    """Open ``data`` as a PDF (``%PDF-`` in its first KiB), a TIFF (every frame a page) or any image the runtime
    decodes (one page); raises InvalidDocumentError with a stable reason when it cannot be read at all."""
    options = options or DocumentOptions()
    limits = limits or DocumentLimits()
    if not data:
        raise InvalidDocumentError("document is empty", "DOCUMENT_EMPTY")
    if len(data) > limits.max_bytes:
        raise InvalidDocumentError(
            f"document is {len(data):,} bytes, over the limit of {limits.max_bytes:,}", "DOCUMENT_TOO_LARGE"
        )
    if _PDF_MAGIC in data[:_PDF_HEADER_WINDOW]:
        return _open_pdf(data, options, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise InvalidDocumentError("content is not a PDF, a TIFF or an image", "DOCUMENT_UNREADABLE") from None
    if image.format == "TIFF":
        return _open_tiff(image, options, limits)
    image.close()
    if image.format not in ALLOWED_FORMATS:
        raise InvalidDocumentError(
            f"{image.format} is not a document format; send a PDF, a TIFF, JPEG, PNG, WebP or BMP",
            "DOCUMENT_UNREADABLE",
        )
    selected = select_pages(options.pages, 1)
    return Document(DocumentKind.IMAGE, 1, selected, _image_pages(data, limits), None)


def _refused(number: int, reason: str, message: str) -> SourcePage:
    return SourcePage(number=number, image=None, width=0, height=0, error=reason, message=message)


def _too_many(number: int, limits: DocumentLimits) -> SourcePage:
    return _refused(number, "TOO_MANY_PAGES", f"only {limits.max_pages} pages are read from one document")


# --- images ------------------------------------------------------------------------------------------------------


def _image_pages(data: bytes, limits: DocumentLimits) -> Iterator[SourcePage]:
    try:
        bgr = decode_image(data, max_pixels=limits.max_pixels_per_page)
    except InvalidImageError as exc:
        reason = "PAGE_TOO_LARGE" if exc.reason == "IMAGE_TOO_LARGE" else exc.reason
        yield _refused(1, reason, exc.message)
        return
    yield SourcePage(number=1, image=bgr, width=bgr.shape[1], height=bgr.shape[0])


# --- TIFF --------------------------------------------------------------------------------------------------------


def _count_frames(image: Image.Image, limits: DocumentLimits) -> int:
    """Frames counted by walking the IFD chain (tags only, no pixels), stopping one past ``max_frames``."""
    count = 1
    try:
        while True:
            image.seek(count)
            count += 1
            if count > limits.max_frames:
                raise InvalidDocumentError(f"TIFF has more than {limits.max_frames:,} frames", "TOO_MANY_PAGES")
    except EOFError:
        pass
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidDocumentError(f"TIFF frame {count + 1} is corrupt: {exc}", "DOCUMENT_UNREADABLE") from None
    return count


def _open_tiff(image: Image.Image, options: DocumentOptions, limits: DocumentLimits) -> Document:
    count = _count_frames(image, limits)
    selected = select_pages(options.pages, count)
    return Document(DocumentKind.TIFF, count, selected, _tiff_pages(image, selected, limits), image)


def _tiff_pages(image: Image.Image, selected: tuple[int, ...], limits: DocumentLimits) -> Iterator[SourcePage]:
    for position, number in enumerate(selected):
        if position >= limits.max_pages:
            yield _too_many(number, limits)
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image.seek(number - 1)
                if image.width * image.height > limits.max_pixels_per_page:
                    yield _refused(
                        number,
                        "PAGE_TOO_LARGE",
                        f"frame is {image.width}x{image.height}, over {limits.max_pixels_per_page:,} pixels",
                    )
                    continue
                bgr = _to_bgr(ImageOps.exif_transpose(image))
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            yield _refused(number, "PAGE_UNREADABLE", f"TIFF frame {number} cannot be decoded: {exc}")
            continue
        yield SourcePage(number=number, image=bgr, width=bgr.shape[1], height=bgr.shape[0])


# --- PDF ---------------------------------------------------------------------------------------------------------


def _open_pdf(data: bytes, options: DocumentOptions, limits: DocumentLimits) -> Document:
    check_streams(data, limits.max_stream_bytes, limits.max_inflated_bytes)
    with PDFIUM_LOCK:
        return _open_pdf_locked(data, options, limits)


def _open_pdf_locked(data: bytes, options: DocumentOptions, limits: DocumentLimits) -> Document:
    try:
        pdf = pdfium.PdfDocument(data, password=options.password)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            if options.password:
                raise InvalidDocumentError("the password does not open this PDF", "DOCUMENT_PASSWORD_WRONG") from None
            raise InvalidDocumentError("PDF is encrypted; a password is needed", "DOCUMENT_ENCRYPTED") from None
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise InvalidDocumentError(
                "PDF uses a security scheme that cannot be opened", "DOCUMENT_ENCRYPTED"
            ) from None
        raise InvalidDocumentError(f"PDF cannot be read: {exc}", "DOCUMENT_UNREADABLE") from None
    count = len(pdf)
    try:
        if count > limits.max_frames:
            raise InvalidDocumentError(f"PDF has {count:,} pages, over {limits.max_frames:,}", "TOO_MANY_PAGES")
        selected = select_pages(options.pages, count)
    except InvalidDocumentError:
        pdf.close()
        raise
    return Document(DocumentKind.PDF, count, selected, _pdf_pages(pdf, selected, options, limits), pdf)


def _pdf_pages(
    pdf: pdfium.PdfDocument, selected: tuple[int, ...], options: DocumentOptions, limits: DocumentLimits
) -> Iterator[SourcePage]:
    for position, number in enumerate(selected):
        if position >= limits.max_pages:
            yield _too_many(number, limits)
            continue
        try:
            page = pdf[number - 1]
        except pdfium.PdfiumError as exc:
            yield _refused(number, "PAGE_UNREADABLE", f"page {number} cannot be loaded: {exc}")
            continue
        try:
            yield _read_pdf_page(page, number, options, limits)
        except InvalidDocumentError as exc:
            yield _refused(number, exc.reason, exc.message)
        except pdfium.PdfiumError as exc:
            yield _refused(number, "PAGE_UNREADABLE", f"page {number} cannot be read: {exc}")
        finally:
            page.close()


def _image_objects(page: pdfium.PdfPage, limits: DocumentLimits) -> list[tuple[int, int, tuple[float, ...]]]:
    """(pixel width, pixel height, (left, bottom, right, top) in page points) of the page's image objects (also
    inside Form XObjects), each checked against ``max_image_pixels`` before PDFium would decode it to render."""
    found: list[tuple[int, int, tuple[float, ...]]] = []
    for obj in page.get_objects(filter=_IMAGE_OBJECT, max_depth=_MAX_FORM_DEPTH):
        px_w, px_h = obj.get_px_size()
        if px_w * px_h > limits.max_image_pixels:
            raise InvalidDocumentError(
                f"an image on the page is {px_w}x{px_h}, over {limits.max_image_pixels:,} pixels", "PAGE_TOO_LARGE"
            )
        left, bottom, right, top = obj.get_bounds()
        container = obj.container
        while container is not None:  # a form's contents are in the form's space: walk up to the page's
            left, bottom, right, top = container.get_matrix().on_rect(left, bottom, right, top)
            container = container.container
        found.append((px_w, px_h, (left, bottom, right, top)))
    return found


def _image_areas(
    objects: list[tuple[int, int, tuple[float, ...]]], transform: np.ndarray
) -> tuple[tuple[Point, ...], ...]:
    """The image objects' boxes in page pixels."""
    return tuple(pixel_box(transform, *bounds) for _, _, bounds in objects)


def _scan_dpi(objects: list[tuple[int, int, tuple[float, ...]]], width_pt: float, height_pt: float) -> float | None:
    """The resolution of the scan a page is, when one image covers it (SCAN_COVER of its area): rendering at that
    resolution gives the scan's own pixels back, so the page reads as its image would; None for any other page."""
    if len(objects) != 1:
        return None
    px_w, px_h, (left, bottom, right, top) = objects[0]
    shown_w, shown_h = abs(right - left), abs(top - bottom)
    if shown_w * shown_h < SCAN_COVER * width_pt * height_pt or min(shown_w, shown_h) <= 0:
        return None
    # the longer pixel side is drawn along the longer shown side (a scan placed turned swaps them)
    return max(px_w, px_h) / (max(shown_w, shown_h) / POINTS_PER_INCH)


def _render(page: pdfium.PdfPage, scale: float) -> np.ndarray:
    bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255), draw_annots=True, may_draw_forms=False)
    try:
        pixels = bitmap.to_numpy()
        if pixels.ndim == 2:
            return np.ascontiguousarray(np.repeat(pixels[:, :, None], 3, axis=2))
        return np.ascontiguousarray(pixels[:, :, :3])  # BGR or BGRx/BGRA from PDFium: already in BGR order
    finally:
        bitmap.close()


def _read_pdf_page(page: pdfium.PdfPage, number: int, options: DocumentOptions, limits: DocumentLimits) -> SourcePage:
    width_pt, height_pt = page.get_size()
    objects = _image_objects(page, limits)
    dpi = choose_dpi(width_pt, height_pt, limits, _scan_dpi(objects, width_pt, height_pt))
    scale = dpi / POINTS_PER_INCH
    transform = page_transform(page, scale)
    areas = _image_areas(objects, transform)
    textpage = page.get_textpage()  # read under IGNORE too: the decision still says what the layer was
    try:
        layer = read_text_layer(textpage, transform)
    finally:
        textpage.close()
    image = _render(page, scale)
    return SourcePage(
        number=number,
        image=image,
        width=image.shape[1],
        height=image.shape[0],
        dpi=dpi,
        text_layer=layer,
        decision=decide(layer, options.text_layer),
        image_areas=areas,
    )
