"""Searchable PDF writer: pypdfium2 extracts every word at its box; the page shows the image, not the text; pages
from a source PDF are kept (born-digital ones untouched, scans under the new text layer, /Rotate respected)."""

from __future__ import annotations

import ctypes
import io
import math
from dataclasses import replace

import cv2
import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from edge_runtime.document.export.common import box
from edge_runtime.document.export.pdf import MissingPageImageError, write_pdf
from edge_runtime.document.structure import Block, BlockKind, Break, DocLine, DocWord, Page, Paragraph, TextSource
from edge_runtime.types import OcrResult
from tests.conftest import get_engine
from tests.edge_runtime.document.export_pages import ARTICLE, render

Box = tuple[float, float, float, float]


def _words(pdf: pdfium.PdfDocument, index: int, width: int, height: int) -> list[tuple[str, Box]]:
    """The page's extracted words and their boxes in pixels of the page rendered at ``width`` x ``height`` (pdfium
    maps user space to the device, the page's /Rotate included)."""
    page = pdf[index]
    text = page.get_textpage()
    words: list[tuple[str, Box]] = []
    current: list[tuple[str, Box]] = []
    high = 0
    for i in range(text.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(text.raw, i)  # a UTF-16 code unit: a pair beyond the BMP
        if 0xD800 <= code < 0xDC00:
            high = code
            continue
        char = chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)) if high else chr(code)
        high = 0
        # pdfium marks a line-end hyphen (U+0002 here, U+FFFE in get_text_range) and joins the next line's word to it
        hyphen = char in ("\x02", "\ufffe")
        char = "-" if hyphen else char
        if char.isspace() or not char:
            if current:
                words.append(_join(current))
                current = []
            continue
        left, bottom, right, top = text.get_charbox(i, loose=True)
        corners = [_device(page, width, height, x, y) for x, y in ((left, bottom), (right, top))]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        current.append((char, (min(xs), min(ys), max(xs), max(ys))))
        if hyphen:
            words.append(_join(current))
            current = []
    if current:
        words.append(_join(current))
    return words


def _device(page: pdfium.PdfPage, width: int, height: int, x: float, y: float) -> tuple[int, int]:
    dx, dy = ctypes.c_int(), ctypes.c_int()
    ok = pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
    assert ok
    return dx.value, dy.value


def _join(chars: list[tuple[str, Box]]) -> tuple[str, Box]:
    boxes = [b for _, b in chars]
    return "".join(c for c, _ in chars), (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _assert_words_in_place(pdf: pdfium.PdfDocument, index: int, page: Page) -> None:
    got = _words(pdf, index, page.width, page.height)
    assert [t for t, _ in got] == [w.text for w in page.words()]
    for (text, found), word in zip(got, page.words(), strict=True):
        assert _iou(found, box(word.polygon)) > 0.8, (text, found, box(word.polygon))


def _rendered(pdf: pdfium.PdfDocument, index: int, dpi: float, shape: tuple[int, ...]) -> np.ndarray:
    """The page rendered at ``dpi``, as BGR, cut to ``shape`` (pdfium rounds the page's size up)."""
    shown = np.asarray(pdf[index].render(scale=dpi / 72).to_pil().convert("RGB"))[:, :, ::-1]
    assert shown.shape[0] - shape[0] in (0, 1) and shown.shape[1] - shape[1] in (0, 1)
    return shown[: shape[0], : shape[1]].astype(int)


def test_image_pages_carry_every_word_at_its_box_and_show_only_the_image() -> None:
    first_image, first = render(ARTICLE, number=1)
    second_image, second = render(ARTICLE[1:4], number=2, width=1000, height=1400)
    images = {1: first_image, 2: second_image[:, :, 1]}  # a gray page too
    out = io.BytesIO()
    write_pdf([first, second], out, image_of=lambda page: images[page.number])
    pdf = pdfium.PdfDocument(out.getvalue())
    assert len(pdf) == 2
    assert pdf[0].get_size() == pytest.approx((1240 * 72 / 150, 1754 * 72 / 150), abs=0.01)
    for index, page in enumerate((first, second)):
        _assert_words_in_place(pdf, index, page)
    # The text layer is invisible: the rendered page is the image (up to its JPEG encoding), no glyph boxes on it.
    shown = _rendered(pdf, 0, 150, first_image.shape)
    assert np.abs(shown - first_image).mean() < 2.0
    ink = first_image.min(axis=2) < 128
    assert (shown.min(axis=2) < 128).sum() < 1.2 * ink.sum()
    # The same pages give the same bytes.
    again = io.BytesIO()
    write_pdf([first, second], again, image_of=lambda page: images[page.number])
    assert again.getvalue() == out.getvalue()


def _content(page: pikepdf.Page) -> bytes:
    contents = page.obj.Contents
    parts = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    return b"".join(part.read_bytes() for part in parts)


def _born_digital_page(pdf: pikepdf.Pdf) -> None:
    page = pdf.add_blank_page(page_size=(595, 842))
    helvetica = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    name = page.add_resource(pdf.make_indirect(helvetica), pikepdf.Name.Font)
    page.contents_add(pikepdf.Stream(pdf, f"BT {name} 24 Tf 72 700 Td (Typed by a word processor) Tj ET".encode()))


def test_source_pages_are_kept_born_digital_unchanged_and_scans_under_the_text_layer() -> None:
    image, scanned = render(ARTICLE, number=2)
    # The source: page 1 born-digital; page 2 a scan stored on its side and shown upright by /Rotate 90.
    scan_only = io.BytesIO()
    lying = Page(1, scanned.height, scanned.width, (), dpi=scanned.dpi)
    write_pdf([lying], scan_only, image_of=lambda _: np.ascontiguousarray(np.rot90(image)))
    source = pikepdf.new()
    _born_digital_page(source)
    with pikepdf.open(io.BytesIO(scan_only.getvalue())) as scan:
        source.pages.append(scan.pages[0])
    source.pages[1].obj.Rotate = 90
    source_bytes = io.BytesIO()
    source.save(source_bytes)
    typed = Page(1, 1240, 1754, render(ARTICLE[1:2])[1].blocks, source=TextSource.TEXT_LAYER, dpi=150.0)

    out = io.BytesIO()
    asked: list[int] = []
    write_pdf(
        [typed, replace(scanned, source=TextSource.OCR)],
        out,
        image_of=lambda p: asked.append(p.number) or image,
        source=source_bytes.getvalue(),
    )
    assert asked == []  # both pages came from the source
    pdf = pdfium.PdfDocument(out.getvalue())
    # Born-digital: its own text once, the page's content as it was.
    assert pdf[0].get_textpage().get_text_range() == "Typed by a word processor"
    with pikepdf.open(io.BytesIO(out.getvalue())) as written:
        assert _content(written.pages[0]) == _content(source.pages[0])
        assert int(written.pages[1].obj.Rotate) == 90
    # The scan: shown upright as before, its words where the page shows them.
    assert np.abs(_rendered(pdf, 1, 150, image.shape) - image).mean() < 2.0
    _assert_words_in_place(pdf, 1, scanned)


def test_a_mixed_page_whose_words_do_not_say_where_they_came_from_is_drawn_from_its_image() -> None:
    image, page = render(ARTICLE[:3], number=1)
    mixed = replace(page, source=TextSource.MIXED)
    source = pikepdf.new()
    _born_digital_page(source)
    source_bytes = io.BytesIO()
    source.save(source_bytes)
    with pytest.raises(MissingPageImageError):
        write_pdf([mixed], io.BytesIO(), source=source_bytes.getvalue())
    out = io.BytesIO()
    write_pdf([mixed], out, image_of=lambda _: image, source=source_bytes.getvalue())
    pdf = pdfium.PdfDocument(out.getvalue())
    _assert_words_in_place(pdf, 0, page)  # every word once: the source's typed text is not copied as well
    assert "Typed" not in pdf[0].get_textpage().get_text_range()


def _page_of(result: OcrResult) -> Page:
    """The engine's lines as one block, a paragraph per line (the layout step's grouping is not under test)."""
    paragraphs = []
    for line in result.lines:
        words = tuple(
            DocWord(w.text, w.confidence, w.polygon, Break.SPACE if i + 1 < len(line.words) else Break.PARAGRAPH)
            for i, w in enumerate(line.words)
        )
        paragraphs.append(
            Paragraph((DocLine(line.text, line.confidence, line.polygon, words, line.angle),), line.polygon)
        )
    return Page(1, result.width, result.height, (Block(BlockKind.TEXT, tuple(paragraphs), ()),), dpi=150.0)


def test_a_page_read_by_the_engine_is_searchable_where_its_words_are() -> None:
    """A skewed scan: the engine's word polygons are turned quads, and each word is placed along its own."""
    image, _ = render(ARTICLE[1:6], number=1)
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 4.0, 1.0)
    skewed = cv2.warpAffine(image, turn, (w, h), borderValue=(255, 255, 255))
    page = _page_of(get_engine(precision="fp32").recognize(skewed))
    assert len(page.words()) >= 20  # the engine read the page (else there is nothing to test)
    out = io.BytesIO()
    write_pdf([page], out, image_of=lambda _: skewed)
    pdf = pdfium.PdfDocument(out.getvalue())
    got = _words(pdf, 0, page.width, page.height)
    assert [t for t, _ in got] == [word.text for word in page.words()]
    for (_, found), word in zip(got, page.words(), strict=True):
        assert _iou(found, box(word.polygon)) > 0.6
    # Each word runs up along its own baseline, as the page turned it (pdfium measures angles clockwise; its figure
    # for a word scaled horizontally strays a degree or more from the polygon's 2-4 degrees, never to 0 or below).
    text = pdf[0].get_textpage()
    chars = [i for i in range(text.count_chars()) if not text.get_text_range(i, 1).isspace()]
    turned = [360 - math.degrees(pdfium_c.FPDFText_GetCharAngle(text.raw, i)) for i in chars]
    assert all(1.0 < angle < 15.0 for angle in turned), sorted(turned)


def test_any_unicode_text_extracts_as_written_and_the_file_is_sound() -> None:
    """The glyphless font carries any character: accents, Cyrillic, CJK, beyond the BMP, PDF string syntax."""
    texts = ["Grüße", "Привет", "東京都", "naïve", "€12,50", "x²", "𝄞clef", "a&b(c)\\"]
    words = tuple(
        DocWord(
            text,
            0.9,
            ((20.0 + i * 110, 20.0), (120.0 + i * 110, 20.0), (120.0 + i * 110, 50.0), (20.0 + i * 110, 50.0)),
        )
        for i, text in enumerate(texts)
    )
    line = DocLine(" ".join(texts), 0.9, words[0].polygon, words)
    page = Page(1, 1000, 100, (Block(BlockKind.TEXT, (Paragraph((line,), ()),), ()),), dpi=150.0)
    out = io.BytesIO()
    write_pdf([page], out, image_of=lambda _: np.full((100, 1000, 3), 255, np.uint8))
    pdf = pdfium.PdfDocument(out.getvalue())
    assert pdf[0].get_textpage().get_text_range() == " ".join(texts)
    _assert_words_in_place(pdf, 0, page)
    with pikepdf.open(io.BytesIO(out.getvalue())) as written:
        assert written.check_pdf_syntax() == []


def _image_streams(data: bytes) -> list[tuple[bytes, int, int]]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        found = []
        for page in pdf.pages:
            for image in page.get_images().values():
                found.append((image.read_raw_bytes(), int(image.Width), int(image.Height)))
        return found


def test_an_upright_jpeg_is_embedded_as_it_is_and_other_files_as_their_upright_pixels() -> None:
    image, page = render(ARTICLE[1:3], number=1, width=620, height=400)
    rgb = Image.fromarray(image[:, :, ::-1].copy())
    jpeg, png, turned = io.BytesIO(), io.BytesIO(), io.BytesIO()
    rgb.save(jpeg, format="JPEG", quality=75)
    rgb.save(png, format="PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: a viewer turns it 90 degrees clockwise
    rgb.transpose(Image.Transpose.ROTATE_90).save(turned, format="JPEG", quality=75, exif=exif)
    for data, as_is in ((jpeg.getvalue(), True), (png.getvalue(), False), (turned.getvalue(), False)):
        out = io.BytesIO()
        write_pdf([page], out, image_of=lambda _, data=data: data)
        ((embedded, width, height),) = _image_streams(out.getvalue())
        assert (width, height) == (620, 400)
        assert (embedded == data) is as_is
        pdf = pdfium.PdfDocument(out.getvalue())
        assert np.abs(_rendered(pdf, 0, 150, image.shape) - image).mean() < 4.0  # upright, where the words are
        _assert_words_in_place(pdf, 0, page)


def _marked(page: Page, source: TextSource) -> Page:
    """The page with every word saying it came from ``source``."""
    blocks = []
    for block in page.blocks:
        paragraphs = []
        for paragraph in block.paragraphs:
            lines = [replace(ln, words=tuple(replace(w, source=source) for w in ln.words)) for ln in paragraph.lines]
            paragraphs.append(replace(paragraph, lines=tuple(lines)))
        blocks.append(replace(block, paragraphs=tuple(paragraphs)))
    return replace(page, blocks=tuple(blocks))


def test_a_mixed_page_whose_words_say_where_they_came_from_keeps_the_source_page_and_adds_its_ocr_words() -> None:
    source = pikepdf.new()
    _born_digital_page(source)  # "Typed by a word processor" at 72 pt from the left, 700 pt up a 595 x 842 pt page
    source_bytes = io.BytesIO()
    source.save(source_bytes)
    typed = [
        DocWord(
            text,
            1.0,
            ((72.0 + 40 * i, 118.0), (100.0 + 40 * i, 118.0), (100.0 + 40 * i, 142.0), (72.0 + 40 * i, 142.0)),
            source=TextSource.TEXT_LAYER,
        )
        for i, text in enumerate(["Typed", "by", "a", "word", "processor"])
    ]
    typed_block = Block(BlockKind.TEXT, (Paragraph((DocLine("", 1.0, (), tuple(typed)),), ()),), ())
    _, scanned = render(ARTICLE[1:3], width=595, height=842)
    mixed = Page(
        1, 595, 842, (typed_block, *_marked(scanned, TextSource.OCR).blocks), source=TextSource.MIXED, dpi=72.0
    )
    out = io.BytesIO()
    write_pdf([mixed], out, source=source_bytes.getvalue())  # no image asked for: the page is the source's
    pdf = pdfium.PdfDocument(out.getvalue())
    got = _words(pdf, 0, 595, 842)
    ocr = [w for w in mixed.words() if w.source is TextSource.OCR]
    assert [t for t, _ in got] == [w.text for w in typed] + [w.text for w in ocr]  # each word once
    for (_, found), word in zip(got[len(typed) :], ocr, strict=True):
        assert _iou(found, box(word.polygon)) > 0.8
    with pikepdf.open(io.BytesIO(out.getvalue())) as written:
        assert _content(source.pages[0]) in _content(written.pages[0])  # the typed page as it was, under the words
