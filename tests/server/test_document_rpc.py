"""RecognizeDocument through a real server: pages equal the in-process reader's, in page order, then the output
files; bad documents answer with their reason and the server keeps serving; a failed page fails only itself."""

from __future__ import annotations

import io

import grpc
import pypdfium2 as pdfium
import pytest

from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
from edge_runtime.document.export.hocr import to_hocr
from edge_runtime.document.export.text import to_text
from edge_runtime.document.layout import confirm_running
from edge_runtime.document.reader import read_document
from edge_runtime.document.sources import DocumentOptions
from edge_runtime.messages import page_json, to_json
from tests.conftest import get_engine
from tests.edge_runtime.document.pdfs import Picture, Text, encrypt, make_pdf, scan
from tests.server.images import receipt_jpg

BORN_DIGITAL = [
    [Text("Quarterly report", 72, 700, 20), Text("Revenue grew in every region this quarter.", 72, 650)],
    [Text("Second page of the report", 72, 700), Text("Costs were flat.", 72, 650)],
    [Text("Appendix", 72, 700)],
]
SCANNED = [[Picture(scan("INVOICE 2041 TOTAL 88.20", size=(900, 200)), 72, 500, 450, 100)]]


def _stub(client) -> ocr_pb2_grpc.OcrServiceStub:
    return ocr_pb2_grpc.OcrServiceStub(client.channel)


def _requests(data: bytes, chunk: int = 4096, **options):
    yield ocr_pb2.RecognizeDocumentRequest(options=ocr_pb2.DocumentOptions(**options))
    for start in range(0, len(data), chunk):
        yield ocr_pb2.RecognizeDocumentRequest(chunk=data[start : start + chunk])


def _call(client, data: bytes, **options) -> list[ocr_pb2.RecognizeDocumentResponse]:
    return list(_stub(client).RecognizeDocument(_requests(data, **options), timeout=300))


def _without_timings(row: dict) -> dict:
    row = dict(row)
    row.pop("timings", None)
    return row


def _pages(responses) -> list[ocr_pb2.Page]:
    return [r.page for r in responses if r.WhichOneof("response") == "page"]


def _outputs(responses) -> dict[int, bytes]:
    files: dict[int, bytes] = {}
    for r in responses:
        if r.WhichOneof("response") == "output":
            files[r.output.format] = files.get(r.output.format, b"") + r.output.content
    return files


def _reason(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("ocr-error-reason", "")


@pytest.mark.parametrize("kind", ["born_digital", "scanned"])
def test_pages_equal_the_in_process_reader(client, kind):
    data = make_pdf(BORN_DIGITAL if kind == "born_digital" else SCANNED)
    responses = _call(client, data)
    pages = _pages(responses)
    expected = list(read_document(data, get_engine()))
    assert [p.page_number for p in pages] == [p.number for p in expected]
    assert [_without_timings(to_json(p)) for p in pages] == [_without_timings(page_json(p)) for p in expected]
    source = "TEXT_SOURCE_TEXT_LAYER" if kind == "born_digital" else "TEXT_SOURCE_OCR"
    assert {ocr_pb2.TextSource.Name(p.text_source) for p in pages} == {source}
    assert responses[0].provenance.backend and not any(r.HasField("provenance") for r in responses[1:])
    assert all(p.timings.total_ms > 0 for p in pages)
    if kind == "scanned":
        assert "INVOICE" in pages[0].text and pages[0].timings.detection_ms > 0
        assert pages[0].dpi > 0


def test_output_files_follow_the_pages(client):
    data = make_pdf(BORN_DIGITAL)
    formats = [ocr_pb2.OUTPUT_FORMAT_TEXT, ocr_pb2.OUTPUT_FORMAT_HOCR, ocr_pb2.OUTPUT_FORMAT_PDF]
    responses = _call(client, data, formats=formats, pages="1,3")
    kinds = [r.WhichOneof("response") for r in responses]
    assert kinds[:2] == ["page", "page"] and set(kinds[2:]) == {"output"}
    assert [p.page_number for p in _pages(responses)] == [1, 3]
    lasts = [r.output.format for r in responses if r.WhichOneof("response") == "output" and r.output.last]
    assert lasts == formats  # each file ends once, in the order asked
    files = _outputs(responses)
    expected = confirm_running(list(read_document(data, get_engine(), DocumentOptions(pages="1,3"))))
    assert files[ocr_pb2.OUTPUT_FORMAT_TEXT].decode() == to_text(expected)
    assert files[ocr_pb2.OUTPUT_FORMAT_HOCR].decode() == to_hocr(expected)
    pdf = pdfium.PdfDocument(io.BytesIO(files[ocr_pb2.OUTPUT_FORMAT_PDF]))
    try:
        assert len(pdf) == 2
        texts = [pdf[i].get_textpage().get_text_range() for i in range(2)]
    finally:
        pdf.close()
    assert "Quarterly report" in texts[0] and "Appendix" in texts[1]


def test_a_bad_page_fails_alone(client):
    huge = [Text("too big to render", 72, 700)]
    data = make_pdf([BORN_DIGITAL[0], huge, BORN_DIGITAL[2]], media_box=(612.0, 792.0))
    # the middle page gets a MediaBox of 200 x 200 inches: over the pixel limit even at the lowest DPI
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.pages[1].MediaBox = [0, 0, 14400, 14400]
        out = io.BytesIO()
        pdf.save(out)
    pages = _pages(_call(client, out.getvalue()))
    assert [p.page_number for p in pages] == [1, 2, 3]
    assert [p.HasField("error") for p in pages] == [False, True, False]
    assert (
        pages[1].error.reason == "PAGE_TOO_LARGE" and pages[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    )
    assert "Quarterly" in pages[0].text and "Appendix" in pages[2].text


@pytest.mark.parametrize(
    ("requests", "reason"),
    [
        (lambda: iter([ocr_pb2.RecognizeDocumentRequest(chunk=b"%PDF-1.7")]), "DOCUMENT_OPTIONS_MISSING"),
        (lambda: _requests(b"this is not a document at all"), "DOCUMENT_UNREADABLE"),
        (lambda: _requests(b""), "DOCUMENT_EMPTY"),
        (lambda: _requests(make_pdf(BORN_DIGITAL), pages="2-9"), "PAGE_RANGE_INVALID"),
        (lambda: _requests(make_pdf(BORN_DIGITAL), pages="x"), "PAGE_RANGE_INVALID"),
        (lambda: _requests(encrypt(make_pdf(BORN_DIGITAL), "pw")), "DOCUMENT_ENCRYPTED"),
        (lambda: _requests(encrypt(make_pdf(BORN_DIGITAL), "pw"), password="nope"), "DOCUMENT_PASSWORD_WRONG"),
        (lambda: _requests(b"%PDF", total_bytes=2**40), "DOCUMENT_TOO_LARGE"),
        (lambda: _requests(make_pdf(BORN_DIGITAL), formats=[0]), "OUTPUT_FORMAT_INVALID"),
        (
            lambda: iter([ocr_pb2.RecognizeDocumentRequest(options=ocr_pb2.DocumentOptions())] * 2),
            "DOCUMENT_OPTIONS_REPEATED",
        ),
    ],
)
def test_bad_documents_answer_with_their_reason(client, requests, reason):
    with pytest.raises(grpc.RpcError) as caught:
        list(_stub(client).RecognizeDocument(requests(), timeout=60))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _reason(caught.value) == reason
    assert client.recognize(receipt_jpg()).lines  # still serving


def test_password_opens_an_encrypted_pdf(client):
    pages = _pages(_call(client, encrypt(make_pdf(BORN_DIGITAL[:1]), "pw"), password="pw"))
    assert len(pages) == 1 and "Quarterly" in pages[0].text


def test_an_image_and_the_recognize_hierarchy_agree(client):
    image = receipt_jpg()
    pages = _pages(_call(client, image))
    assert len(pages) == 1 and pages[0].dpi == 0 and pages[0].blocks
    response = _stub(client).Recognize(ocr_pb2.RecognizeRequest(image=ocr_pb2.Image(content=image)), timeout=120)
    assert [to_json(b) for b in response.blocks] == [to_json(b) for b in pages[0].blocks]
    words = [w.text for b in response.blocks for p in b.paragraphs for ln in p.lines for w in ln.words]
    assert words == [w.text for ln in response.lines for w in ln.words]


def test_cancelling_stops_the_reading(served, client):
    import time

    plane = served.server.plane
    pages = [[Picture(scan(f"PAGE {n} OF MANY", size=(900, 200)), 72, 500, 450, 100)] for n in range(12)]
    before = plane.stats.images
    call = _stub(client).RecognizeDocument(_requests(make_pdf(pages)), timeout=300)
    first = next(call)
    assert first.page.page_number == 1
    call.cancel()
    with pytest.raises(grpc.RpcError) as caught:
        list(call)
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    for _ in range(600):  # the call gives its slot back once its reading has stopped
        if plane.active_calls == 0:
            break
        time.sleep(0.1)
    # at most the page in progress and the PAGES_AHEAD pages waiting to be sent were read after page 1
    assert plane.active_calls == 0 and plane.stats.images - before <= 1 + 4 + 1 < len(pages)
    assert client.recognize(receipt_jpg()).lines


def _image_bomb() -> bytes:
    """A 100,000 x 100,000 image declared in a few bytes of Flate on page 1; page 2 is ordinary typed text."""
    import pikepdf

    data = make_pdf([SCANNED[0], BORN_DIGITAL[2]])
    with pikepdf.open(io.BytesIO(data)) as pdf:
        (image,) = pdf.pages[0].Resources.XObject.values()
        image.write(b"\x00" * 1000, filter=pikepdf.Name.FlateDecode, type_check=False)
        image.Width = image.Height = 100_000
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def test_hostile_documents_answer_with_a_reason_and_the_server_keeps_serving(client):
    from tests.edge_runtime.document.pdfs import flate_of_spaces, ifd_chain_tiff, raw_pdf

    for data, reason in [
        (ifd_chain_tiff(10_001), "TOO_MANY_PAGES"),  # frames are counted, not decoded
        (raw_pdf(contents=(flate_of_spaces(300 * 1024 * 1024),)), "DOCUMENT_TOO_LARGE"),  # a content-stream bomb
        (make_pdf(BORN_DIGITAL)[:400], "DOCUMENT_UNREADABLE"),  # cut short
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            _call(client, data)
        assert (caught.value.code(), _reason(caught.value)) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    pages = _pages(_call(client, _image_bomb()))
    assert [p.error.reason for p in pages] == ["PAGE_TOO_LARGE", ""] and pages[1].text == "Appendix"
    (page,) = _pages(_call(client, raw_pdf(b"/Deep " + b"[" * 200_000 + b"]" * 200_000)))
    assert page.text == "Hi"  # nesting 200,000 deep: PDFium stops at its depth limit, the page still reads
    assert client.recognize(receipt_jpg()).lines


def test_a_passed_deadline_stops_the_reading(client):
    pages = [[Picture(scan(f"SLOW PAGE {n}", size=(900, 200)), 72, 500, 450, 100)] for n in range(40)]
    call = _stub(client).RecognizeDocument(_requests(make_pdf(pages)), timeout=1.5)
    got = []
    with pytest.raises(grpc.RpcError) as caught:
        for response in call:
            got.append(response)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(got) < 40
    assert client.recognize(receipt_jpg()).lines


def test_documents_held_at_once_are_bounded_in_bytes():
    """Uploads that hold more than DOCUMENT_MEMORY_FACTOR x --max-document-bytes at once: the next is refused
    OVERLOADED while they are held, accepted once they end; nothing stays charged."""
    import threading

    from server.config import ServerConfig
    from server.embedded import ServerThread
    from server.plane import DOCUMENT_MEMORY_FACTOR

    limit = 64 * 1024
    server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0, max_document_bytes=limit))
    release = threading.Event()
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = ocr_pb2_grpc.OcrServiceStub(channel)

            def held():  # a file of the largest size, then the upload waits
                yield ocr_pb2.RecognizeDocumentRequest(options=ocr_pb2.DocumentOptions())
                yield ocr_pb2.RecognizeDocumentRequest(chunk=b"%PDF-1.7\n" + bytes(limit - 9))
                release.wait(60)

            calls = [stub.RecognizeDocument(held(), timeout=120) for _ in range(DOCUMENT_MEMORY_FACTOR)]
            plane = server.server.plane
            for _ in range(600):  # until every held upload's chunk has arrived
                if plane.document_bytes >= DOCUMENT_MEMORY_FACTOR * limit:
                    break
                threading.Event().wait(0.05)
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.RecognizeDocument(_requests(make_pdf(BORN_DIGITAL[:1])), timeout=60))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and _reason(refused.value) == "OVERLOADED"
            release.set()
            for call in calls:
                with pytest.raises(grpc.RpcError):  # each held file is no readable PDF
                    list(call)
            pages = _pages(list(stub.RecognizeDocument(_requests(make_pdf(BORN_DIGITAL[:1])), timeout=60)))
            assert pages[0].text.startswith("Quarterly")
            assert plane.document_bytes == 0
    finally:
        release.set()
        server.stop()
