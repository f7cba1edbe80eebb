"""`python -m edge_runtime document`: every --to format parsed back (minimally: the writers have their own tests),
page ranges, the text-layer flag, and failures as one line with a stable reason."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest

from edge_runtime.cli import main
from tests.edge_runtime.document.pdfs import Picture, Text, encrypt, make_pdf, scan, tiff

PAGES = [
    [Text("Harbour traffic rose in March", 72, 700, 12), Text("and fell again in April", 72, 684, 12)],
    [Text("Berths were full all summer", 72, 700, 12)],
    [Text("Third page closes the report", 72, 700, 12)],
]
WORDS = [[w for item in page for w in item.text.split()] for page in PAGES]
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture
def born_digital(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(PAGES))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["document", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_is_one_line_per_page(born_digital: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, born_digital, "--to", "json")
    assert (code, err) == (0, "")
    pages = [json.loads(line) for line in out.splitlines()]
    assert [p["page_number"] for p in pages] == [1, 2, 3] and {p["text_source"] for p in pages} == {
        "TEXT_SOURCE_TEXT_LAYER"
    }
    words = [
        [w["text"] for b in p["blocks"] for para in b["paragraphs"] for ln in para["lines"] for w in ln["words"]]
        for p in pages
    ]
    assert words == WORDS and all(b["kind"] for p in pages for b in p["blocks"])


def test_text_is_pages_apart_by_form_feeds(born_digital: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, born_digital, "--to", "text")
    assert code == 0 and out.count("\f") == 3
    assert [page.split() for page in out.split("\f")[:3]] == WORDS


def test_page_ranges_and_output_file(born_digital: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_path = tmp_path / "out.txt"
    code, out, _ = _run(capsys, born_digital, "--to", "text", "--pages", "1,3", "-o", out_path)
    assert (code, out) == (0, "")
    assert [page.split() for page in out_path.read_text(encoding="utf-8").split("\f")[:2]] == [WORDS[0], WORDS[2]]


def test_markdown(born_digital: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, born_digital, "--to", "md")
    assert code == 0
    for words in WORDS:
        assert " ".join(words) in out


def test_hocr_parses_back_with_every_word(born_digital: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, born_digital, "--to", "hocr")
    assert code == 0
    root = ET.fromstring(out)
    spans = [el for el in root.iter(f"{XHTML}span") if el.get("class") == "ocrx_word"]
    assert [el.text for el in spans] == [w for words in WORDS for w in words]
    assert len([el for el in root.iter(f"{XHTML}div") if el.get("class") == "ocr_page"]) == 3


def test_alto_parses_back_with_every_word(born_digital: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, born_digital, "--to", "alto")
    assert code == 0
    root = ET.fromstring(out.encode("utf-8"))
    assert [el.get("CONTENT") for el in root.iter(f"{ALTO}String")] == [w for words in WORDS for w in words]
    assert len(list(root.iter(f"{ALTO}Page"))) == 3


def test_pdf_keeps_born_digital_pages(born_digital: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_path = tmp_path / "out.pdf"
    code, _, _ = _run(capsys, born_digital, "--to", "pdf", "-o", out_path)
    assert code == 0
    pdf = pdfium.PdfDocument(out_path)
    assert [pdf[i].get_textpage().get_text_range().split() for i in range(len(pdf))] == WORDS


def test_pdf_of_a_tiff_is_searchable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "scan.tiff"
    source.write_bytes(tiff([scan("first page"), scan("second page")]))
    out_path = tmp_path / "scan.pdf"
    code, _, err = _run(capsys, source, "--to", "pdf", "-o", out_path)
    assert (code, err) == (0, "")
    pdf = pdfium.PdfDocument(out_path)
    assert [pdf[i].get_textpage().get_text_range().split() for i in range(len(pdf))] == [
        ["first", "page"],
        ["second", "page"],
    ]


def test_a_scanned_pdf_is_ocrd_unless_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "scan.pdf"
    source.write_bytes(make_pdf([[Picture(scan("Scanned words only"), 72, 400, 400, 100)]]))
    code, out, _ = _run(capsys, source, "--to", "json")
    (page,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and page["text_source"] == "TEXT_SOURCE_OCR" and page["blocks"]
    code, out, _ = _run(capsys, source, "--to", "json", "--text-layer", "only")
    (page,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and page["blocks"] == []


def _one_line_error(err: str, reason: str) -> None:
    assert err.count("\n") == 1 and err.rstrip().endswith(f"[{reason}]")


def test_failures_are_one_line_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypt(make_pdf(PAGES[:1]), "pw"))
    code, out, err = _run(capsys, locked, "--to", "text")
    assert (code, out) == (2, "")
    _one_line_error(err, "DOCUMENT_ENCRYPTED")
    code, out, _ = _run(capsys, locked, "--to", "text", "--password", "pw")
    assert code == 0 and out.split() == WORDS[0]
    code, _, err = _run(capsys, tmp_path / "absent.pdf", "--to", "text")
    assert code == 2
    _one_line_error(err, "DOCUMENT_UNREADABLE")
    code, _, err = _run(capsys, locked, "--to", "text", "--pages", "2")
    assert code == 2
    _one_line_error(err, "DOCUMENT_ENCRYPTED")  # opened before the range is checked
    with pytest.raises(SystemExit) as usage:
        main(["document", str(locked), "--to", "pdf"])  # pdf needs -o
    assert usage.value.code == 2
    _one_line_error(capsys.readouterr().err, "USAGE_INVALID")


def test_a_bad_page_range_is_refused(born_digital: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, born_digital, "--to", "text", "--pages", "2-9")
    assert (code, out) == (2, "")
    _one_line_error(err, "PAGE_RANGE_INVALID")


def test_a_failed_page_is_named_and_the_others_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 200 x 200 in page between two good ones: refused (PAGE_TOO_LARGE), exit code 1, the others still out."""
    normal = make_pdf(PAGES[:1])
    merged = pikepdf.open(io.BytesIO(normal))
    merged.pages.extend(pikepdf.open(io.BytesIO(make_pdf(PAGES[1:2], media_box=(200 * 72, 200 * 72)))).pages)
    merged.pages.extend(pikepdf.open(io.BytesIO(make_pdf(PAGES[2:]))).pages)
    source = tmp_path / "huge.pdf"
    merged.save(source)
    code, out, err = _run(capsys, source, "--to", "text")
    assert code == 1
    _one_line_error(err, "PAGE_TOO_LARGE")
    assert [page.split() for page in out.split("\f")[:3]] == [WORDS[0], [], WORDS[2]]
    out_path = tmp_path / "out.pdf"
    code, _, err = _run(capsys, source, "--to", "pdf", "-o", out_path)
    assert code == 1 and "page 2" in err
    assert len(pdfium.PdfDocument(out_path)) == 3  # the refused page is kept as it was, never dropped
