"""Read a document end to end, in process: each page from its PDF text layer, by OCR, or both, into its structure.

Pages come out in page order as each is read, one page image in memory at a time. A page is read:

- from its text layer when the text-layer decision says so and the page has no image areas (born-digital): no OCR;
- by OCR of the whole page image when there is no usable text layer (a scan, a TIFF frame, an image);
- MIXED when a trusted text layer sits on a page with image areas (a scan with typed text on top, a report with a
  pasted-in figure): only the image areas are OCR'd, OCR words that overlap a text-layer word are dropped, and each
  word says where it came from (``DocWord.source``), so no text is read twice and none is missed.

Running headers and footers are guessed per page here (``layout.build_page``); confirming them across pages
(``layout.confirm_running``) needs the whole document and is left to the writers that take all pages at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_runtime.document.layout import LayoutParams, build_page, words_of
from edge_runtime.document.layout_model import Region
from edge_runtime.document.limits import DocumentLimits
from edge_runtime.document.regions import apply_regions
from edge_runtime.document.sources import DocumentOptions, SourcePage, open_document
from edge_runtime.document.structure import DocLine, Page, TextSource
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.errors import InvalidDocumentError, InvalidImageError
from edge_runtime.types import OcrResult, Point, TextLine, Word

__all__ = ["Recognizer", "ReadPage", "read_document", "read_pages", "read_opened", "read_page"]

MIN_AREA_SIDE = 16  # pixels: an image area narrower or lower than this holds no legible text (rules, bullets)
MAX_AREA_CROPS = 4  # more image areas than this and the page is OCR'd once, keeping the words inside the areas
AREA_MARGIN = 4  # pixels around an image area's crop, so text touching its edge is not cut
OVERLAP = 0.3  # an OCR word overlapping a text-layer word by this share of its own box is already in the text


class Regions(Protocol):
    """What reading needs of a layout model (``layout_model.LayoutModel`` is one): the regions of a BGR page."""

    def regions(self, image: np.ndarray) -> Sequence[Region]: ...


class Recognizer(Protocol):
    """What reading needs of an engine (``edge_runtime.OcrEngine`` is one): OCR of one BGR page image."""

    def recognize(self, image: np.ndarray) -> OcrResult: ...


@dataclass(frozen=True)
class ReadPage:
    """A read page with the image it was read from (None when the page failed), for writers that draw it."""

    page: Page
    image: np.ndarray | None


def read_document(
    document: bytes | str | Path,
    engine: Recognizer,
    options: DocumentOptions | None = None,
    limits: DocumentLimits | None = None,
    params: LayoutParams | None = None,
) -> Iterator[Page]:
    """The pages of ``document`` (its bytes or a path), in order, each yielded as soon as it is read.

    Raises InvalidDocumentError before the first page when the document cannot be read at all; a page that
    cannot be read comes back with ``error`` set and no blocks, and the next page is still read.
    """
    for read in read_pages(document, engine, options, limits, params):
        yield read.page


def read_pages(
    document: bytes | str | Path,
    engine: Recognizer,
    options: DocumentOptions | None = None,
    limits: DocumentLimits | None = None,
    params: LayoutParams | None = None,
) -> Iterator[ReadPage]:
    """As ``read_document``, each page with its image (dropped by the caller before the next page is read)."""
    data = document if isinstance(document, bytes) else _read_file(Path(document))
    with open_document(data, options, limits) as opened:
        yield from read_opened(opened, engine, (options or DocumentOptions()).text_layer, params)


def read_opened(
    pages: Iterable[SourcePage],
    engine: Recognizer,
    mode: TextLayerMode = TextLayerMode.AUTO,
    params: LayoutParams | None = None,
    layout: Regions | None = None,
) -> Iterator[ReadPage]:
    """The pages of an opened document (``sources.open_document``) read one by one, each with its image; with
    ``layout``, each page's blocks named by its layout regions and its tables cut into cells."""
    for source in pages:
        page = read_page(source, engine, mode, params)
        if layout is not None and source.image is not None and not page.error:
            page = apply_regions(page, layout.regions(source.image), source.image)
        yield ReadPage(page, source.image)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidDocumentError(f"cannot read {path}: {exc.strerror}", "DOCUMENT_UNREADABLE") from None


def read_page(
    source: SourcePage, engine: Recognizer, mode: TextLayerMode = TextLayerMode.AUTO, params: LayoutParams | None = None
) -> Page:
    """One opened page read into its structure: from its text layer, by OCR, or both (see the module)."""
    if source.error or source.image is None:
        return Page(source.number, source.width, source.height, (), dpi=source.dpi, error=source.error or "UNREADABLE")
    layer = source.text_layer
    use_layer = source.decision is not None and source.decision.use and layer is not None
    try:
        if use_layer and layer is not None:
            typed = _text_lines(layer.lines)
            if mode is TextLayerMode.ONLY or not source.image_areas:
                return _build(typed, source, TextSource.TEXT_LAYER, params)
            ocr = _outside(_ocr_areas(source.image, source.image_areas, engine), typed)
            if not ocr:
                return _build(typed, source, TextSource.TEXT_LAYER, params)
            page = _build([*typed, *ocr], source, TextSource.MIXED, params)
            return _mark_sources(page, ocr)
        if mode is TextLayerMode.ONLY:  # never OCR: an image or TIFF frame has no text layer to read
            return _build([], source, TextSource.TEXT_LAYER, params)
        lines = list(engine.recognize(source.image).lines)
    except InvalidImageError as exc:  # this page's image is not one the engine reads (too small, too large)
        return Page(source.number, source.width, source.height, (), dpi=source.dpi, error=exc.reason)
    return _build(lines, source, TextSource.OCR, params)


def _build(lines: Sequence[TextLine], source: SourcePage, kind: TextSource, params: LayoutParams | None) -> Page:
    return build_page(lines, source.width, source.height, source.number, kind, source.dpi, params)


def _text_lines(lines: Sequence[DocLine]) -> list[TextLine]:
    """The text layer's lines in the engine's shape, each box turned to start at the text's own top-left.

    The text layer's boxes are axis-aligned, starting at the image's top-left; on a turned page (``/Rotate``, or
    a page drawn sideways) the text reads down, up or right to left, and the layout takes the reading direction
    from the polygons' first edge. The direction is where a line's words go; a one-word line goes the page's way.
    """
    directions = [_direction(line) for line in lines]
    votes = [d for d in directions if d is not None]
    page = max(set(votes), key=votes.count) if votes else 0
    out = []
    for line, direction in zip(lines, directions, strict=True):
        angle = page if direction is None else direction
        words = tuple(Word(w.text, w.confidence, _turned(w.polygon, angle)) for w in line.words)
        out.append(TextLine(line.text, line.confidence, _turned(line.polygon, angle), words, angle))
    return out


def _direction(line: DocLine) -> int | None:
    """Where the line's words go from its first to its last, in degrees clockwise from the image's x axis (0, 90,
    180 or 270); None for a line of one word."""
    if len(line.words) < 2:
        return None
    (ax, ay), (bx, by) = _centre(line.words[0].polygon), _centre(line.words[-1].polygon)
    if ax == bx and ay == by:
        return None
    return round(math.degrees(math.atan2(by - ay, bx - ax)) / 90) % 4 * 90


def _turned(polygon: tuple[Point, ...], angle: int) -> tuple[Point, ...]:
    """An axis-aligned box (clockwise from the image's top-left) started at the corner that is the text's top-left
    when the text reads at ``angle``: still clockwise."""
    if len(polygon) != 4 or angle == 0:
        return polygon
    shift = angle // 90
    return polygon[shift:] + polygon[:shift]


# ---- OCR of a page's image areas ----------------------------------------------------------------------------------
def _bounds(polygon: Sequence[Point]) -> tuple[float, float, float, float]:
    xs = [x for x, _ in polygon]
    ys = [y for _, y in polygon]
    return min(xs), min(ys), max(xs), max(ys)


def _ocr_areas(image: np.ndarray, areas: Sequence[tuple[Point, ...]], engine: Recognizer) -> list[TextLine]:
    """The OCR lines inside the image areas, in page pixels: each area's crop read on its own, or, with many
    areas, the page read once and its words kept where their centre lies in an area."""
    height, width = image.shape[:2]
    boxes = []
    for area in areas:
        x0, y0, x1, y1 = _bounds(area)
        x0, y0 = max(0, int(x0) - AREA_MARGIN), max(0, int(y0) - AREA_MARGIN)
        x1, y1 = min(width, int(np.ceil(x1)) + AREA_MARGIN), min(height, int(np.ceil(y1)) + AREA_MARGIN)
        if x1 - x0 >= MIN_AREA_SIDE and y1 - y0 >= MIN_AREA_SIDE:
            boxes.append((x0, y0, x1, y1))
    if not boxes:
        return []
    if len(boxes) > MAX_AREA_CROPS:
        lines = _with_words(engine.recognize(image).lines)

        def inside(word: Word) -> bool:
            cx, cy = _centre(word.polygon)
            return any(a <= cx <= c and b <= cy <= d for a, b, c, d in boxes)

        return _filter_words(lines, inside)
    found: list[TextLine] = []
    for x0, y0, x1, y1 in boxes:
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        found += [_shifted(line, x0, y0) for line in _with_words(engine.recognize(crop).lines)]
    return found


def _shifted(line: TextLine, dx: float, dy: float) -> TextLine:
    def move(polygon: tuple[Point, ...]) -> tuple[Point, ...]:
        return tuple((x + dx, y + dy) for x, y in polygon)

    words = tuple(replace(w, polygon=move(w.polygon)) for w in line.words)
    return replace(line, polygon=move(line.polygon), words=words)


def _with_words(lines: Sequence[TextLine]) -> list[TextLine]:
    """Lines that the engine gave without words get one word per token along the line, so each can be placed."""
    return [line if line.words else replace(line, words=words_of(line)) for line in lines]


def _filter_words(lines: Sequence[TextLine], keep: Callable[[Word], bool]) -> list[TextLine]:
    """The lines with only the words ``keep`` accepts; a line left without words goes."""
    out = []
    for line in lines:
        words = tuple(w for w in line.words if keep(w))
        if len(words) == len(line.words):
            out.append(line)
        elif words:
            out.append(replace(line, text=" ".join(w.text for w in words), words=words))
    return out


def _centre(polygon: Sequence[Point]) -> tuple[float, float]:
    x0, y0, x1, y1 = _bounds(polygon)
    return (x0 + x1) / 2, (y0 + y1) / 2


def _outside(ocr: Sequence[TextLine], typed: Sequence[TextLine]) -> list[TextLine]:
    """The OCR lines without the words the text layer already holds: a word whose box overlaps a text-layer
    word's box by ``OVERLAP`` of its own area is the same text, seen twice."""
    placed = [_bounds(w.polygon) for line in typed for w in line.words]
    return _filter_words(ocr, lambda w: not _covered(_bounds(w.polygon), placed))


def _covered(box: tuple[float, float, float, float], placed: Sequence[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    area = max(1e-6, (x1 - x0) * (y1 - y0))
    for a, b, c, d in placed:
        overlap = max(0.0, min(x1, c) - max(x0, a)) * max(0.0, min(y1, d) - max(y0, b))
        if overlap >= OVERLAP * area:
            return True
    return False


def _mark_sources(page: Page, ocr: Sequence[TextLine]) -> Page:
    """Each word of a MIXED page marked OCR (one of ``ocr``'s words) or TEXT_LAYER (every other word)."""
    ocr_words = {(w.text, w.polygon) for line in ocr for w in line.words}

    def marked(line: DocLine) -> DocLine:
        words = tuple(
            replace(w, source=TextSource.OCR if (w.text, w.polygon) in ocr_words else TextSource.TEXT_LAYER)
            for w in line.words
        )
        return replace(line, words=words)

    blocks = tuple(
        replace(
            block,
            paragraphs=tuple(replace(p, lines=tuple(marked(ln) for ln in p.lines)) for p in block.paragraphs),
        )
        for block in page.blocks
    )
    return replace(page, blocks=blocks)
