"""Documents through the Python client: `OcrClient.recognize_document` and `ocr-client document` against a real
server, each compared with the in-process `python -m edge_runtime document` on the same file; the requests the
library sends (options first, then the file in chunks) checked without a server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import grpc
import pikepdf
import pypdfium2 as pdfium
import pytest

from clients.ocr_client import DocumentPage, OcrCallError, OcrClient, OutputChunk
from clients.ocr_client.cli import main as client_main
from clients.ocr_client.documents import document_page, document_requests
from clients.ocr_client.pb import ocr_pb2
from edge_runtime.cli import main as runtime_main
from edge_runtime.document.reader import read_document
from edge_runtime.messages import page_json
from tests.conftest import get_engine
from tests.edge_runtime.document.pdfs import Picture, Text, encrypt, make_pdf, scan
from tests.server.images import scene_png

PAGES = [
    [Text("Harbour traffic rose in March", 72, 700, 12), Text("and fell again in April", 72, 684, 12)],
    [Text("Berths were full all summer", 72, 700, 12)],
    [Text("Third page closes the report", 72, 700, 12)],
]
WORDS = [[w for item in page for w in item.text.split()] for page in PAGES]


@pytest.fixture
def born_digital(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(PAGES))
    return path


@pytest.fixture
def huge_middle_page(tmp_path: Path) -> Path:
    """Three pages, the second 200 x 200 inches: refused (PAGE_TOO_LARGE), the others read."""
    merged = pikepdf.open(io.BytesIO(make_pdf(PAGES[:1])))
    merged.pages.extend(pikepdf.open(io.BytesIO(make_pdf(PAGES[1:2], media_box=(200 * 72, 200 * 72)))).pages)
    merged.pages.extend(pikepdf.open(io.BytesIO(make_pdf(PAGES[2:]))).pages)
    path = tmp_path / "huge.pdf"
    merged.save(path)
    return path


@pytest.fixture(scope="module")
def client(served):
    with OcrClient(served.target, timeout=120) as c:
        c.wait_until_serving(60)
        yield c


def _without_timings(row: dict) -> dict:
    return {key: value for key, value in row.items() if key != "timings"}


def _words(page: DocumentPage) -> list[str]:
    return [word.text for line in page.lines for word in line.words]


def _run(capsys: pytest.CaptureFixture[str], main, *argv: object) -> tuple[int, str, str]:
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _remote(capsys, served, *argv: object) -> tuple[int, str, str]:
    return _run(capsys, client_main, "--target", served.target, "document", *argv)


def _local(capsys, *argv: object) -> tuple[int, str, str]:
    return _run(capsys, runtime_main, "document", *argv)


def _one_line_error(err: str, reason: str) -> None:
    assert err.count("\n") == 1 and err.startswith("error: ") and err.rstrip().endswith(f"[{reason}]"), err


# ---- without a server: what the library sends ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["bytes", "path", "file"])
def test_requests_are_the_options_then_the_file_in_chunks(tmp_path: Path, kind: str) -> None:
    data = make_pdf(PAGES)
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    document = {"bytes": data, "path": path, "file": io.BytesIO(data)}[kind]
    requests = list(
        document_requests(
            document,
            pages="1,3",
            text_layer="ignore",
            password="pw",
            formats=["pdf", "OUTPUT_FORMAT_HOCR"],
            chunk_bytes=1000,
        )
    )
    first, chunks = requests[0], requests[1:]
    assert first.WhichOneof("request") == "options"
    assert first.options == ocr_pb2.DocumentOptions(
        pages="1,3",
        text_layer=ocr_pb2.TEXT_LAYER_MODE_IGNORE,
        password="pw",
        formats=[ocr_pb2.OUTPUT_FORMAT_PDF, ocr_pb2.OUTPUT_FORMAT_HOCR],
        total_bytes=len(data),
    )
    assert all(r.WhichOneof("request") == "chunk" and 0 < len(r.chunk) <= 1000 for r in chunks)
    assert len(chunks) == -(-len(data) // 1000) and b"".join(r.chunk for r in chunks) == data


def test_bad_arguments_fail_before_any_call(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        document_requests(tmp_path / "absent.pdf")
    with pytest.raises(ValueError, match="output format"):
        document_requests(b"%PDF", formats=["docx"])
    with pytest.raises(ValueError, match="text layer"):
        document_requests(b"%PDF", text_layer="sometimes")
    with pytest.raises(ValueError, match="chunk_bytes"):
        document_requests(b"%PDF", chunk_bytes=0)


def test_a_page_message_becomes_typed_results() -> None:
    word = ocr_pb2.Word(text="Harbour", confidence=0.5, break_after=ocr_pb2.BREAK_TYPE_NONE)
    line = ocr_pb2.TextLine(text="Harbour", confidence=0.5, words=[word])
    block = ocr_pb2.Block(
        kind=ocr_pb2.BLOCK_KIND_HEADER, text="Harbour", paragraphs=[ocr_pb2.Paragraph(text="Harbour", lines=[line])]
    )
    page = document_page(ocr_pb2.Page(page_number=2, text_source=ocr_pb2.TEXT_SOURCE_MIXED, blocks=[block], dpi=144.0))
    assert (page.page_number, page.text_source, page.dpi, page.error) == (2, "TEXT_SOURCE_MIXED", 144.0, None)
    assert page.blocks[0].kind == "BLOCK_KIND_HEADER" and page.blocks[0].paragraphs[0].text == "Harbour"
    (only,) = page.lines[0].words
    assert (only.text, only.break_after, only.source) == ("Harbour", "BREAK_TYPE_NONE", None)
    failed = document_page(ocr_pb2.Page(page_number=3, error=ocr_pb2.Error(code=3, reason="PAGE_TOO_LARGE")))
    assert failed.error is not None and failed.error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failed.error.reason == "PAGE_TOO_LARGE"


def test_cli_usage_and_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        client_main(["document", str(tmp_path / "x.pdf"), "--to", "pdf"])  # pdf needs -o
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ocr-client document: ") and err.count("\n") == 1
    _one_line_error(err.removeprefix("ocr-client document: "), "USAGE_INVALID")
    # no server is reached: the file is opened before the call
    argv = ["--target", "127.0.0.1:9", "document", tmp_path / "x.pdf", "--to", "json"]
    code, out, err = _run(capsys, client_main, *argv)
    assert (code, out) == (2, "")
    _one_line_error(err, "DOCUMENT_UNREADABLE")
    assert "No such file or directory" in err


# ---- against a real server -------------------------------------------------------------------------------------
def test_json_equals_the_in_process_command(served, born_digital: Path, capsys) -> None:
    code, remote, err = _remote(capsys, served, born_digital, "--to", "json")
    assert (code, err) == (0, "")
    code, local, _ = _local(capsys, born_digital, "--to", "json")
    assert code == 0
    remote_pages = [_without_timings(json.loads(line)) for line in remote.splitlines()]
    assert remote_pages == [_without_timings(json.loads(line)) for line in local.splitlines()]
    assert [p["page_number"] for p in remote_pages] == [1, 2, 3]


@pytest.mark.parametrize("to", ["text", "md", "hocr", "alto"])
def test_files_equal_the_in_process_writers(served, born_digital: Path, tmp_path: Path, capsys, to: str) -> None:
    code, remote, err = _remote(capsys, served, born_digital, "--to", to, "--pages", "1,3")
    assert (code, err) == (0, "")
    code, local, _ = _local(capsys, born_digital, "--to", to, "--pages", "1,3")
    assert code == 0 and remote == local and "Harbour" in remote and "Berths" not in remote
    out = tmp_path / "out" / f"doc.{to}"  # -o makes its folder, as the in-process command does
    code, stdout, _ = _remote(capsys, served, born_digital, "--to", to, "--pages", "1,3", "-o", out)
    assert (code, stdout) == (0, "") and out.read_text(encoding="utf-8") == local


def test_pdf_is_searchable(served, tmp_path: Path, capsys) -> None:
    """A scanned page and a born-digital one: the written PDF gives back every word where the page had it."""
    source = tmp_path / "mixed.pdf"
    source.write_bytes(make_pdf([[Picture(scan("Scanned words only", size=(900, 200)), 72, 500, 450, 100)], PAGES[1]]))
    out = tmp_path / "searchable.pdf"
    code, stdout, err = _remote(capsys, served, source, "--to", "pdf", "-o", out)
    assert (code, stdout, err) == (0, "", "")
    pdf = pdfium.PdfDocument(out)
    try:
        texts = [pdf[i].get_textpage().get_text_range().split() for i in range(len(pdf))]
    finally:
        pdf.close()
    assert [w.lower() for w in texts[0]] == ["scanned", "words", "only"] and texts[1] == WORDS[1]


def test_a_corrupt_document_is_exit_2_with_its_reason(served, tmp_path: Path, capsys) -> None:
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    out = tmp_path / "never.txt"
    code, stdout, err = _remote(capsys, served, corrupt, "--to", "text", "-o", out)
    assert (code, stdout) == (2, "")
    _one_line_error(err, "DOCUMENT_UNREADABLE")
    assert not out.exists()  # nothing written for a document that was not read
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypt(make_pdf(PAGES[:1]), "pw"))
    code, _, err = _remote(capsys, served, locked, "--to", "text")
    assert code == 2
    _one_line_error(err, "DOCUMENT_ENCRYPTED")
    code, stdout, _ = _remote(capsys, served, locked, "--to", "text", "--password", "pw")
    assert code == 0 and stdout.split() == WORDS[0]


def test_a_bad_page_is_exit_1_with_the_others_written(served, huge_middle_page: Path, tmp_path: Path, capsys) -> None:
    code, out, err = _remote(capsys, served, huge_middle_page, "--to", "text")
    assert code == 1
    assert err == "error: page 2 cannot be read [PAGE_TOO_LARGE]\n"
    assert [page.split() for page in out.split("\f")[:3]] == [WORDS[0], [], WORDS[2]]
    code, out, err = _remote(capsys, served, huge_middle_page, "--to", "json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [r["page_number"] for r in rows] == [1, 2, 3]
    assert [("error" in r) for r in rows] == [False, True, False] and rows[1]["error"]["reason"] == "PAGE_TOO_LARGE"


def test_library_pages_equal_the_in_process_reader(client, tmp_path: Path) -> None:
    data = make_pdf([[Picture(scan("INVOICE 2041 TOTAL 88.20", size=(900, 200)), 72, 500, 450, 100)], *PAGES])
    expected = list(read_document(data, get_engine()))
    with client.recognize_document(data, chunk_bytes=1000) as results:
        items = list(results)
    assert all(isinstance(item, DocumentPage) for item in items)  # no formats asked: pages only
    assert [_without_timings(p.to_dict()) for p in items] == [_without_timings(page_json(p)) for p in expected]
    assert [p.text_source for p in items] == ["TEXT_SOURCE_OCR"] + ["TEXT_SOURCE_TEXT_LAYER"] * 3
    assert [_words(p) for p in items[1:]] == WORDS and items[0].dpi > 0 and items[0].timings is not None
    assert results.provenance is not None and results.provenance == items[0].provenance
    assert all(p.provenance is None for p in items[1:])


def test_library_writes_outputs_as_they_arrive(client, born_digital: Path, tmp_path: Path, capsys) -> None:
    pdf_out, hocr = tmp_path / "out.pdf", io.BytesIO()
    with client.recognize_document(born_digital, formats=["pdf", "hocr"], chunk_bytes=512) as results:
        pages = list(results.pages(outputs={"pdf": pdf_out, "OUTPUT_FORMAT_HOCR": hocr}))
    assert [p.page_number for p in pages] == [1, 2, 3]
    code, local_hocr, _ = _local(capsys, born_digital, "--to", "hocr")
    assert code == 0 and hocr.getvalue().decode("utf-8") == local_hocr
    document = pdfium.PdfDocument(pdf_out)
    try:
        assert [document[i].get_textpage().get_text_range().split() for i in range(len(document))] == WORDS
    finally:
        document.close()
    with pytest.raises(ValueError, match="pdf"):
        client.recognize_document(born_digital, formats=["pdf"]).pages(outputs={}).__next__()
    pages, files = client.recognize_document(born_digital.read_bytes(), formats=["text"]).collect()
    assert len(pages) == 3 and set(files) == {"text"}
    assert [page.split() for page in files["text"].decode().split("\f")[:3]] == WORDS


def test_library_raises_call_errors_with_their_reason(client) -> None:
    results = client.recognize_document(b"this is not a document at all")
    with pytest.raises(OcrCallError) as caught:
        next(results)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and caught.value.reason == "DOCUMENT_UNREADABLE"
    with pytest.raises(OcrCallError) as caught:
        list(client.recognize_document(make_pdf(PAGES), pages="2-9"))
    assert caught.value.reason == "PAGE_RANGE_INVALID"


def test_closing_the_results_cancels_the_call(client) -> None:
    pages = [[Picture(scan(f"PAGE {n} OF MANY", size=(900, 200)), 72, 500, 450, 100)] for n in range(8)]
    results = client.recognize_document(make_pdf(pages), formats=["pdf"])
    first = next(results)
    assert isinstance(first, DocumentPage) and first.page_number == 1
    results.close()
    assert list(results) == []
    assert results._call.code() == grpc.StatusCode.CANCELLED  # the call ended cancelled, not by its last output
    # leaving pages() early cancels too
    results = client.recognize_document(make_pdf(pages), formats=["text"])
    for page in results.pages(outputs={"text": io.BytesIO()}):
        assert page.page_number == 1
        break
    assert results._call.code() == grpc.StatusCode.CANCELLED
    assert client.recognize_document(make_pdf(PAGES[:1])).collect()[0][0].text  # still serving


def test_output_chunks_are_typed(client, born_digital: Path) -> None:
    items = list(client.recognize_document(born_digital, formats=["md"]))
    chunks = [item for item in items if isinstance(item, OutputChunk)]
    assert chunks and {c.format for c in chunks} == {"md"} and [c.last for c in chunks][-1] is True
    assert not any(isinstance(item, DocumentPage) for item in items[items.index(chunks[0]) :])


def test_recognize_blocks_are_the_document_page_blocks(client) -> None:
    """An image read by Recognize carries the structure RecognizeDocument gives its one page, typed the same."""
    image = scene_png()
    result = client.recognize(image)
    (page,) = client.recognize_document(image).collect()[0]
    assert result.blocks and result.blocks == page.blocks and page.dpi == 0
    words = [w.text for b in result.blocks for p in b.paragraphs for line in p.lines for w in line.words]
    assert sorted(words) == sorted(w.text for line in result.lines for w in line.words)
    assert all(w.break_after for b in result.blocks for p in b.paragraphs for ln in p.lines for w in ln.words)
    assert all(w.break_after is None for line in result.lines for w in line.words)  # unset in `lines`
