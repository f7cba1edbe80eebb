"""Reading documents end to end with the real engine: born-digital pages from their text layer (no OCR), scanned
pages by OCR, mixed pages with each word once, failed pages among good ones, page ranges, encryption."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pypdfium2 as pdfium
import pytest

from edge_runtime.document.export.pdf import write_pdf
from edge_runtime.document.limits import DocumentLimits
from edge_runtime.document.reader import ReadPage, read_document, read_pages
from edge_runtime.document.sources import DocumentOptions
from edge_runtime.document.structure import TextSource
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.errors import InvalidDocumentError
from edge_runtime.evaluation.metrics import word_counts
from edge_runtime.types import OcrResult
from tests.conftest import get_engine
from tests.edge_runtime.document.pdfs import Picture, Text, encrypt, make_pdf, scan, tiff

BORN_DIGITAL = [
    [
        Text("Quarterly report on harbour traffic", 72, 700, 20),
        Text("Ships arrived early in March and left", 72, 640, 12),
        Text("before the storms of late April.", 72, 624, 12),
    ],
    [Text("Second page holds the summary table", 72, 700, 12), Text("Totals were 1,204 berths", 72, 684, 12)],
]
SCANNED_WORDS = "Scanned words only"
CAPTION = "A typed caption"
STAMP = "STAMPED"
SCAN_WORDS = "and a scan below"
# A scan with typed text on top: a caption above the picture, a stamp drawn over its empty lower right corner
MIXED = [
    Text(CAPTION, 72, 700, 18),
    Picture(scan(SCAN_WORDS, size=(800, 300)), 72, 350, 400, 150),
    Text(STAMP, 300, 360, 14),
]


class Counting:
    """The shared real engine, counting the pages it is asked to read."""

    def __init__(self) -> None:
        self.calls = 0
        self.engine = get_engine()

    def recognize(self, image: np.ndarray) -> OcrResult:
        self.calls += 1
        return self.engine.recognize(image)


def _written(pages: list[list[Text | Picture]]) -> list[str]:
    return [w for items in pages for item in items if isinstance(item, Text) for w in item.text.split()]


def _bgr(image: object) -> np.ndarray:
    rgb = np.asarray(image)
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def test_born_digital_pages_come_from_the_text_layer_without_ocr() -> None:
    engine = Counting()
    pages = list(read_document(make_pdf(BORN_DIGITAL), engine))
    assert engine.calls == 0  # no page image was OCR'd: copying the text costs no model run at all
    assert [p.number for p in pages] == [1, 2] and all(p.source is TextSource.TEXT_LAYER for p in pages)
    read = [w.text for p in pages for w in p.words()]
    assert read == _written(BORN_DIGITAL)  # every word, in the order written
    assert word_counts([" ".join(read)], [" ".join(_written(BORN_DIGITAL))]).f1 == 1.0
    assert all(w.confidence == 1.0 and w.source is None for p in pages for w in p.words())
    assert pages[0].dpi > 0 and pages[0].error == ""


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_a_turned_born_digital_page_keeps_its_reading_order(rotate: int) -> None:
    """/Rotate turns the rendered page: the text layer's boxes are turned with it, so the layout reads the page in
    its own frame (lines, then paragraphs) instead of the image's."""
    items = [
        Text("First line of the turned page", 72, 700, 12),
        Text("second line follows it here", 72, 684, 12),
        Text("Another paragraph starts lower down", 72, 640, 12),
    ]
    (page,) = read_document(make_pdf([items], rotate=rotate), Counting())
    assert (page.width > page.height) == (rotate in (90, 270))
    assert page.text == f"{items[0].text} {items[1].text}\n\n{items[2].text}"
    assert {line.angle for b in page.blocks for p in b.paragraphs for line in p.lines} == {rotate}


def test_ignore_mode_ocrs_a_born_digital_page() -> None:
    engine = Counting()
    options = DocumentOptions(pages="1", text_layer=TextLayerMode.IGNORE)
    (page,) = read_document(make_pdf(BORN_DIGITAL), engine, options)
    assert engine.calls == 1 and page.source is TextSource.OCR
    assert word_counts([page.text], [" ".join(_written(BORN_DIGITAL[:1]))]).f1 >= 0.8


def test_a_scanned_page_reads_as_its_image_does() -> None:
    engine = Counting()
    picture = scan(SCANNED_WORDS)
    (page,) = read_document(make_pdf([[Picture(picture, 72, 400, 400, 100)]]), engine)
    assert engine.calls == 1 and page.source is TextSource.OCR
    direct = get_engine().recognize(_bgr(picture))
    assert [w.text for w in page.words()] == [w.text for line in direct.lines for w in line.words]
    assert page.text == SCANNED_WORDS


def test_only_mode_never_ocrs() -> None:
    engine = Counting()
    data = make_pdf([[Picture(scan(SCANNED_WORDS), 72, 400, 400, 100)]])
    (page,) = read_document(data, engine, DocumentOptions(text_layer=TextLayerMode.ONLY))
    assert engine.calls == 0 and page.blocks == () and page.error == ""


def test_a_mixed_page_reads_each_word_once() -> None:
    engine = Counting()
    (page,) = read_document(make_pdf([MIXED]), engine)
    assert page.source is TextSource.MIXED and engine.calls == 1  # the picture's area only
    words = [(w.text, w.source) for w in page.words()]
    typed = sorted((w, TextSource.TEXT_LAYER) for w in f"{CAPTION} {STAMP}".split())
    scanned = sorted((w, TextSource.OCR) for w in SCAN_WORDS.split())
    assert sorted(words) == sorted(typed + scanned)  # none twice, none missed, each marked
    # OCR does see the stamp drawn over the picture: left alone it would have been read twice
    (ocr_only,) = read_document(make_pdf([MIXED]), engine, DocumentOptions(text_layer=TextLayerMode.IGNORE))
    assert STAMP in [w.text for w in ocr_only.words()]


def test_a_page_with_many_pictures_is_ocrd_once() -> None:
    """More image areas than crops are worth: one OCR of the page, keeping the words inside the areas only (the
    caption, in the text layer and in the image, stays once)."""
    labels = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    items: list[Text | Picture] = [Text(CAPTION, 72, 720, 18)]
    items += [
        Picture(scan(label, size=(400, 100)), 72 + 240 * (i % 2), 560 - 90 * (i // 2), 200, 50)
        for i, label in enumerate(labels)
    ]
    engine = Counting()
    (page,) = read_document(make_pdf([items]), engine)
    assert engine.calls == 1 and page.source is TextSource.MIXED
    expected = [(w, TextSource.TEXT_LAYER) for w in CAPTION.split()] + [(w, TextSource.OCR) for w in labels]
    assert sorted((w.text, w.source) for w in page.words()) == sorted(expected)


def test_a_mixed_page_in_the_searchable_pdf_adds_only_its_ocr_words() -> None:
    data = make_pdf([MIXED])
    reads: list[ReadPage] = list(read_pages(data, get_engine()))
    out = io.BytesIO()
    write_pdf([r.page for r in reads], out, source=data)  # no image needed: the source page is kept
    pdf = pdfium.PdfDocument(out.getvalue())
    extracted = pdf[0].get_textpage().get_text_range().split()
    assert sorted(extracted) == sorted(f"{CAPTION} {STAMP} {SCAN_WORDS}".split())


def test_a_failed_page_does_not_stop_the_others() -> None:
    engine = Counting()
    pages = list(read_document(make_pdf(BORN_DIGITAL), engine, limits=DocumentLimits(max_pages=1)))
    assert [(p.number, p.error) for p in pages] == [(1, ""), (2, "TOO_MANY_PAGES")]
    assert pages[0].blocks and pages[1].blocks == ()


def test_pages_are_read_lazily_in_order() -> None:
    engine = Counting()
    frames = [scan("first page"), scan("second page")]
    pages = read_document(tiff(frames), engine)
    first = next(pages)
    assert (first.number, engine.calls, first.text) == (1, 1, "first page")  # the second not read yet
    second = next(pages)
    assert (second.number, engine.calls, second.text) == (2, 2, "second page")
    assert next(pages, None) is None


def test_page_ranges_select_pages() -> None:
    data = make_pdf([*BORN_DIGITAL, [Text("Third page", 72, 700, 12)]])
    pages = list(read_document(data, Counting(), DocumentOptions(pages="1,3")))
    assert [(p.number, p.text) for p in pages] == [(1, pages[0].text), (3, "Third page")]
    with pytest.raises(InvalidDocumentError) as caught:
        list(read_document(data, Counting(), DocumentOptions(pages="2-5")))
    assert caught.value.reason == "PAGE_RANGE_INVALID"


def test_an_encrypted_pdf_needs_its_password() -> None:
    data = encrypt(make_pdf(BORN_DIGITAL[:1]), "secret")
    with pytest.raises(InvalidDocumentError) as caught:
        list(read_document(data, Counting()))
    assert caught.value.reason == "DOCUMENT_ENCRYPTED"
    (page,) = read_document(data, Counting(), DocumentOptions(password="secret"))
    assert [w.text for w in page.words()] == _written(BORN_DIGITAL[:1])


def test_a_missing_file_is_unreadable(tmp_path: object) -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        list(read_document(f"{tmp_path}/absent.pdf", Counting()))
    assert caught.value.reason == "DOCUMENT_UNREADABLE"
