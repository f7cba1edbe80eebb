"""Opening documents: PDF pages rendered one at a time with their text layers and image areas, TIFF frames, images,
and every hostile input answered with a stable reason."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image

from edge_runtime.document.limits import DocumentLimits
from edge_runtime.document.sources import DocumentKind, DocumentOptions, SourcePage, open_document
from edge_runtime.errors import InvalidDocumentError
from tests.edge_runtime.document.pdfs import (
    Picture,
    Text,
    encrypt,
    flate_of_spaces,
    ifd_chain_tiff,
    make_pdf,
    raw_pdf,
    scan,
    tiff,
)

TYPED: list[Text | Picture] = [Text("Typed text on page one", 72, 700, 18)]
SCANNED: list[Text | Picture] = [Picture(scan("Scanned words only"), 72, 400, 400, 100)]
BOTH: list[Text | Picture] = [
    Text("A typed caption", 72, 700, 18),
    Picture(scan("and a scan below"), 72, 400, 400, 100),
]


def _pages(
    data: bytes, options: DocumentOptions | None = None, limits: DocumentLimits | None = None
) -> list[SourcePage]:
    with open_document(data, options, limits) as document:
        return list(document)


def _reason(data: bytes, options: DocumentOptions | None = None, limits: DocumentLimits | None = None) -> str:
    with pytest.raises(InvalidDocumentError) as caught:
        _pages(data, options, limits)
    return caught.value.reason


def test_pdf_pages_with_text_images_or_both() -> None:
    data = make_pdf([TYPED, SCANNED, BOTH])
    with open_document(data) as document:
        assert (document.kind, document.page_count, document.selected) == (DocumentKind.PDF, 3, (1, 2, 3))
        pages = list(document)
    assert [p.number for p in pages] == [1, 2, 3]
    for page in pages:
        assert page.error == "" and page.image is not None
        assert page.image.dtype == np.uint8 and page.image.shape == (page.height, page.width, 3)
        assert abs(page.height - 11 * page.dpi) <= 1 and abs(page.width - 8.5 * page.dpi) <= 1
        assert max(page.width, page.height) == 2000  # the default target side: the detector's working size
    typed, scanned, both = pages
    assert typed.decision is not None and typed.decision.use and typed.image_areas == ()
    assert scanned.decision is not None and not scanned.decision.use
    assert both.decision is not None and both.decision.use
    assert both.text_layer is not None and both.text_layer.text == "A typed caption"
    # the scan's area, in page pixels: 72..472 pt across, 292..392 pt down from the top
    for page in (scanned, both):
        (area,) = page.image_areas
        expected = np.array([72, 292, 472, 392]) * page.dpi / 72
        assert np.allclose([area[0][0], area[0][1], area[2][0], area[2][1]], expected, atol=1.0)


def test_image_areas_hold_the_scan_in_the_rendered_page() -> None:
    (page,) = _pages(make_pdf([SCANNED]))
    assert page.image is not None
    (area,) = page.image_areas
    x0, y0, x1, y1 = int(area[0][0]), int(area[0][1]), int(area[2][0]), int(area[2][1])
    ink = page.image.min(axis=2) < 128
    assert ink[y0:y1, x0:x1].sum() == ink.sum() > 0


def test_the_rendered_scan_reads_back_with_the_engine() -> None:
    """The page image is what the engine takes (BGR, at a DPI the detector reads): OCR finds the scan's words."""
    from tests.conftest import get_engine

    (page,) = _pages(make_pdf([SCANNED]))
    assert page.image is not None
    result = get_engine().recognize(page.image)
    assert "Scanned words only" in " ".join(line.text for line in result.lines)


def test_page_ranges_select_and_order() -> None:
    data = make_pdf([[Text(f"Page {n}", 72, 700, 18)] for n in range(1, 6)])
    pages = _pages(data, DocumentOptions(pages="4-,2"))
    assert [p.number for p in pages] == [2, 4, 5]
    assert [p.text_layer.text for p in pages if p.text_layer] == ["Page 2", "Page 4", "Page 5"]
    assert _reason(data, DocumentOptions(pages="6")) == "PAGE_RANGE_INVALID"
    assert _reason(data, DocumentOptions(pages="2-x")) == "PAGE_RANGE_INVALID"


def test_pages_past_max_pages_are_refused_one_by_one() -> None:
    data = make_pdf([[Text(f"Page {n}", 72, 700, 18)] for n in range(1, 5)])
    pages = _pages(data, limits=DocumentLimits(max_pages=2))
    assert [(p.number, p.error) for p in pages] == [(1, ""), (2, ""), (3, "TOO_MANY_PAGES"), (4, "TOO_MANY_PAGES")]
    assert pages[2].image is None


def test_more_pages_than_max_frames_refuses_the_document() -> None:
    data = make_pdf([TYPED] * 4)
    assert _reason(data, limits=DocumentLimits(max_frames=3)) == "TOO_MANY_PAGES"


def test_the_text_layer_mode_travels_to_each_page() -> None:
    data = make_pdf([TYPED, SCANNED])
    ignore = _pages(data, DocumentOptions(text_layer="ignore"))  # type: ignore[arg-type]
    assert [p.decision.use for p in ignore if p.decision] == [False, False]
    assert [p.decision.reason for p in ignore if p.decision] == ["TRUSTED", "NO_TEXT"]
    only = _pages(data, DocumentOptions(text_layer="only"))  # type: ignore[arg-type]
    assert [p.decision.use for p in only if p.decision] == [True, True]


# --- hostile inputs ------------------------------------------------------------------------------------------------


def test_encrypted_pdf_needs_its_password() -> None:
    data = encrypt(make_pdf([TYPED]), user="s3cret")
    assert _reason(data) == "DOCUMENT_ENCRYPTED"
    assert _reason(data, DocumentOptions(password="wrong")) == "DOCUMENT_PASSWORD_WRONG"
    (page,) = _pages(data, DocumentOptions(password="s3cret"))
    assert page.text_layer is not None and page.text_layer.text == "Typed text on page one"


def test_broken_xref_is_repaired() -> None:
    """PDFium rebuilds a cross-reference table that points nowhere by scanning the objects: the text still reads."""
    data = make_pdf([TYPED])
    at = data.rfind(b"startxref")
    broken = data[:at] + b"startxref\n987654\n%%EOF\n"
    xref = data.find(b"\nxref") + 1
    mangled = data[:xref] + b"xref\n0 9\nnot an xref table at all\n" + data[xref + 40 :]
    for bad in (broken, mangled):
        (page,) = _pages(bad)
        assert page.text_layer is not None and page.text_layer.text == "Typed text on page one"


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_pdf_is_unreadable(keep: float) -> None:
    data = make_pdf([TYPED])
    assert _reason(data[: int(len(data) * keep)]) == "DOCUMENT_UNREADABLE"


def test_one_huge_page_is_refused_and_the_others_still_read() -> None:
    """200 x 200 in: over max_pixels_per_page even at min_dpi, so refused (not rendered at a DPI no text survives)."""
    normal = make_pdf([TYPED])
    huge = make_pdf([TYPED], media_box=(200 * 72, 200 * 72))
    merged = pikepdf.open(io.BytesIO(normal))
    merged.pages.extend(pikepdf.open(io.BytesIO(huge)).pages)
    merged.pages.extend(pikepdf.open(io.BytesIO(normal)).pages)
    out = io.BytesIO()
    merged.save(out)
    pages = _pages(out.getvalue())
    assert [p.error for p in pages] == ["", "PAGE_TOO_LARGE", ""]
    assert pages[1].image is None and pages[2].image is not None


def test_a_large_page_is_rendered_within_the_pixel_limit() -> None:
    (page,) = _pages(
        make_pdf([TYPED], media_box=(40 * 72, 60 * 72)), limits=DocumentLimits(max_pixels_per_page=20_000_000)
    )
    assert page.image is not None and page.width * page.height <= 20_000_000
    assert page.dpi == 72  # min_dpi: the longer side's 2000 pixels would be 33 DPI


def test_an_image_bomb_is_refused_before_it_is_decoded() -> None:
    """A 100,000 x 100,000 image declared in a few bytes of Flate: refused from its header, never rendered."""
    data = make_pdf([SCANNED, TYPED])
    pdf = pikepdf.open(io.BytesIO(data))
    (image,) = pdf.pages[0].Resources.XObject.values()
    image.write(b"\x00" * 1000, filter=pikepdf.Name.FlateDecode, type_check=False)
    image.Width = image.Height = 100_000
    out = io.BytesIO()
    pdf.save(out)
    pages = _pages(out.getvalue())
    assert [p.error for p in pages] == ["PAGE_TOO_LARGE", ""]


def _nested(depth: int, shift: tuple[float, float]) -> bytes:
    """The scan drawn inside ``depth`` Form XObjects, each moving its contents by ``shift`` points."""
    pdf = pikepdf.open(io.BytesIO(make_pdf([SCANNED])))
    page = pdf.pages[0]
    (image,) = page.Resources.XObject.values()
    drawn, content = image, b"q 400 0 0 100 72 400 cm /X Do Q"
    for _ in range(depth):
        form = pikepdf.Stream(pdf, content)
        form.Type, form.Subtype = pikepdf.Name.XObject, pikepdf.Name.Form
        form.BBox, form.Matrix = [-5000, -5000, 5000, 5000], [1, 0, 0, 1, *shift]
        form.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(X=drawn))
        drawn, content = pdf.make_indirect(form), b"/X Do"
    page.Resources.XObject = pikepdf.Dictionary(X=drawn)
    page.Contents = pikepdf.Stream(pdf, content)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_image_areas_inside_forms_are_placed_on_the_page() -> None:
    (page,) = _pages(_nested(3, (20.0, -30.0)))
    assert page.image is not None
    (area,) = page.image_areas
    expected = np.array([72 + 60, 292 + 90, 472 + 60, 392 + 90]) * page.dpi / 72
    assert np.allclose([area[0][0], area[0][1], area[2][0], area[2][1]], expected, atol=1.0)
    ys, xs = (page.image.min(axis=2) < 128).nonzero()
    assert expected[0] <= xs.min() and xs.max() <= expected[2] and expected[1] <= ys.min() and ys.max() <= expected[3]


def test_deeply_nested_forms_are_bounded() -> None:
    """Forms nested 200 deep: the page answers (images searched to a bounded depth); it does not hang or crash."""
    (page,) = _pages(_nested(200, (0.0, 0.0)))
    assert page.error in ("", "PAGE_UNREADABLE")
    assert len(page.image_areas) <= 1


def test_empty_not_a_document_and_too_many_bytes() -> None:
    assert _reason(b"") == "DOCUMENT_EMPTY"
    assert _reason(b"Just some text, not a PDF and not an image.\n" * 10) == "DOCUMENT_UNREADABLE"
    assert _reason(b"%PDF-1.7\n%%EOF\n") == "DOCUMENT_UNREADABLE"
    assert _reason(make_pdf([TYPED]), limits=DocumentLimits(max_bytes=100)) == "DOCUMENT_TOO_LARGE"
    gif = io.BytesIO()
    scan("A GIF", (120, 40), 20).save(gif, format="GIF")
    assert _reason(gif.getvalue()) == "DOCUMENT_UNREADABLE"  # an image format the runtime does not serve


# --- TIFF and images -----------------------------------------------------------------------------------------------


def _frame(value: int, size: tuple[int, int]) -> Image.Image:
    return Image.new("L", size, value)


def test_tiff_frames_are_pages() -> None:
    data = tiff([_frame(10, (64, 48)), scan("Frame two", (320, 80), 40), _frame(200, (30, 90))])
    with open_document(data) as document:
        assert (document.kind, document.page_count) == (DocumentKind.TIFF, 3)
        pages = list(document)
    assert [(p.number, p.width, p.height, p.dpi) for p in pages] == [
        (1, 64, 48, 0.0),
        (2, 320, 80, 0.0),
        (3, 30, 90, 0.0),
    ]
    assert pages[0].image is not None and int(pages[0].image[0, 0, 0]) == 10
    assert pages[2].image is not None and int(pages[2].image[0, 0, 0]) == 200
    assert pages[1].text_layer is None and pages[1].decision is None
    (only,) = _pages(data, DocumentOptions(pages="3"))
    assert (only.number, only.height) == (3, 90)


def test_a_tiff_with_ten_thousand_frames_is_counted_not_decoded() -> None:
    data = ifd_chain_tiff(10_001)
    assert _reason(data) == "TOO_MANY_PAGES"  # one past the default max_frames
    pages = _pages(ifd_chain_tiff(5), limits=DocumentLimits(max_pages=3))
    assert [p.error for p in pages] == ["", "", "", "TOO_MANY_PAGES", "TOO_MANY_PAGES"]


def test_a_tiff_frame_over_the_pixel_limit_is_refused_alone() -> None:
    data = tiff([_frame(10, (50, 50)), _frame(20, (400, 400)), _frame(30, (50, 50))])
    pages = _pages(data, limits=DocumentLimits(max_pixels_per_page=10_000))
    assert [p.error for p in pages] == ["", "PAGE_TOO_LARGE", ""]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP"])
def test_an_image_is_a_one_page_document(fmt: str) -> None:
    image = scan("One page", (300, 90), 40)
    out = io.BytesIO()
    image.save(out, format=fmt)
    with open_document(out.getvalue()) as document:
        assert (document.kind, document.page_count) == (DocumentKind.IMAGE, 1)
        (page,) = list(document)
    assert page.image is not None and (page.width, page.height, page.dpi) == (300, 90, 0.0)
    expected = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    assert np.abs(page.image.astype(int) - expected).mean() < 8  # lossy formats within a few levels


def test_an_image_over_the_pixel_limit_is_a_refused_page() -> None:
    out = io.BytesIO()
    _frame(0, (400, 400)).save(out, format="PNG")
    (page,) = _pages(out.getvalue(), limits=DocumentLimits(max_pixels_per_page=10_000))
    assert (page.error, page.image) == ("PAGE_TOO_LARGE", None)


def test_a_flate_bomb_is_refused_before_pdfium_inflates_it() -> None:
    """48 MiB of spaces in a ~50 KB content stream, against a 32 MiB stream limit: refused at open."""
    data = raw_pdf(contents=(flate_of_spaces(48 * 1024 * 1024), b"BT /F1 12 Tf 72 700 Td (Hi) Tj ET"))
    limits = DocumentLimits(max_stream_bytes=32 * 1024 * 1024)
    assert _reason(data, limits=limits) == "DOCUMENT_TOO_LARGE"
    (page,) = _pages(data)  # under the default limit it is an ordinary page
    assert page.text_layer is not None and page.text_layer.text == "Hi"


@pytest.mark.parametrize("nesting", [b"[" * 200_000 + b"]" * 200_000, b"<< /A " * 100_000 + b">> " * 100_000])
def test_deeply_nested_objects_are_bounded(nesting: bytes) -> None:
    """A page dictionary holding arrays or dictionaries nested 100,000 deep: PDFium's parser stops at its depth
    limit; the page still reads."""
    (page,) = _pages(raw_pdf(b"/Deep " + nesting))
    assert page.error == "" and page.text_layer is not None and page.text_layer.text == "Hi"


def test_pages_are_rendered_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is rendered at open; each page when it is asked for (the real renderer, counted)."""
    from edge_runtime.document import sources

    rendered: list[tuple[int, int]] = []
    real = sources._render

    def counting(page: object, scale: float) -> np.ndarray:
        image = real(page, scale)
        rendered.append(image.shape[:2])
        return image

    monkeypatch.setattr(sources, "_render", counting)
    with open_document(make_pdf([TYPED, SCANNED, BOTH])) as document:
        assert rendered == []
        pages = iter(document)
        first = next(pages)
        assert len(rendered) == 1 and first.number == 1
        assert [p.number for p in pages] == [2, 3] and len(rendered) == 3


def test_document_errors_are_the_callers_input() -> None:
    """The one gRPC mapping answers a document's reasons as INVALID_ARGUMENT, reason kept."""
    import grpc

    from server.errors import status_of

    for reason in ("DOCUMENT_ENCRYPTED", "TOO_MANY_PAGES", "PAGE_RANGE_INVALID", "DOCUMENT_TOO_LARGE"):
        code, got, _ = status_of(InvalidDocumentError("x", reason))
        assert (code, got) == (grpc.StatusCode.INVALID_ARGUMENT, reason)


def test_a_page_that_is_one_scan_is_rendered_at_the_scans_resolution() -> None:
    """A letter page covered by a 150-dpi scan renders to the scan's own 1275 x 1650 pixels (not blown up to the
    detector's 2,000), so a scanned PDF reads as its images do; a page with a small picture keeps the 2,000 rule."""
    image = scan("NATIVE RESOLUTION 150 DPI", size=(1275, 1650), font_px=40)
    (page,) = _pages(make_pdf([[Picture(image, 0, 0, 612, 792)]]))
    assert abs(page.width - 1275) <= 1 and abs(page.height - 1650) <= 1  # PDFium rounds a side up
    assert page.dpi == pytest.approx(150, abs=0.01) and page.image is not None
    drawn = page.image[:1650, :1275].astype(int)
    assert np.abs(drawn - np.asarray(image.convert("RGB"))[: drawn.shape[0], : drawn.shape[1], ::-1]).mean() < 1.0
    (small,) = _pages(make_pdf([[Picture(image, 72, 72, 200, 260)]]))
    assert max(small.width, small.height) == 2000
