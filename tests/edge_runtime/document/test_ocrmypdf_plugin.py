"""OCRmyPDF with our plugin, run as users run it (``python -m ocrmypdf --plugin ...``, a subprocess): the output is
PDF/A, its text layer holds the words drawn on the scan at their places, in process and against a real server;
turned and skewed scans come out upright; options it cannot honour, a server that is not there and a page the server
refuses end the run with OCRmyPDF's exit codes."""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from edge_runtime.document.export.common import box
from edge_runtime.document.ocrmypdf_plugin_reader import direction_of
from edge_runtime.evaluation.metrics import normalize_words, word_counts
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import REPO, get_engine
from tests.edge_runtime.document.pages import Rendered, column_page, receipt
from tests.services import free_port

PLUGIN = "edge_runtime.document.ocrmypdf_plugin"
DPI = 150  # the scans' resolution: OCRmyPDF rasterises each page again at its own (300 dpi or more)
BAD_ARGS, MISSING_DEPENDENCY, CHILD_PROCESS_ERROR = 1, 3, 7  # ocrmypdf.ExitCode
ARGPARSE_ERROR = 2  # argparse's own exit on a value outside an option's choices
Box = tuple[float, float, float, float]


def _require_ghostscript() -> None:
    """``--output-type pdfa`` may convert with Ghostscript (Debian's ``ghostscript``, installed by set-up): a skip
    where it is missing, a failure in CI (``CI=true`` or ``OCR_REQUIRE_SERVICES=1``)."""
    if shutil.which("gs"):
        return
    why = "Ghostscript (`gs`, Debian's ghostscript: scripts/setup.sh installs it) is not installed"
    if os.environ.get("CI") == "true" or os.environ.get("OCR_REQUIRE_SERVICES") == "1":
        pytest.fail(why + " and CI requires it")
    pytest.skip(why)


def _ocrmypdf(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The real ocrmypdf, one job, with this worktree's code on the path (so the plugin is this one)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "ocrmypdf", "--plugin", PLUGIN, "--jobs", "1", *map(str, args)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _scan_pdf(path: Path, pages: Sequence[Image.Image]) -> Path:
    """Page images saved as a PDF of images only, as a scanner writes it (``DPI`` dots per inch)."""
    first, *rest = [p.convert("RGB") for p in pages]
    first.save(path, "PDF", resolution=DPI, save_all=True, append_images=rest)
    return path


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Rendered]]:
    """Two scanned pages: a two-column article with a title, and a receipt."""
    pages = [column_page(21, columns=2, header=False, footer=False), receipt(4)]
    return _scan_pdf(tmp_path_factory.mktemp("ocrmypdf") / "scan.pdf", [p.image for p in pages]), pages


@pytest.fixture(scope="module")
def served():
    server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0))
    yield server
    server.stop()


def _words(page: pdfium.PdfPage) -> list[tuple[str, Box]]:
    """The page's extracted words with their boxes in pixels of the page as shown (``DPI``, its /Rotate applied,
    from the top-left): where they are on the scan."""
    text = page.get_textpage()
    width, height = (round(side * DPI / 72.0) for side in page.get_size())
    words: list[tuple[str, Box]] = []
    chars: list[tuple[str, Box]] = []
    for i in range(text.count_chars()):
        char = chr(pdfium_c.FPDFText_GetUnicode(text.raw, i))
        if char.isspace() or char in ("\x00", "\x02", "\ufffe"):
            if chars:
                words.append(_joined(chars))
                chars = []
            continue
        left, bottom, right, top = text.get_charbox(i, loose=True)
        corners = [_device(page, width, height, x, y) for x, y in ((left, bottom), (right, top))]
        xs, ys = [x for x, _ in corners], [y for _, y in corners]
        chars.append((char, (min(xs), min(ys), max(xs), max(ys))))
    if chars:
        words.append(_joined(chars))
    return words


def _device(page: pdfium.PdfPage, width: int, height: int, x: float, y: float) -> tuple[float, float]:
    dx, dy = ctypes.c_int(), ctypes.c_int()
    done = pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
    assert done
    return float(dx.value), float(dy.value)


def _joined(chars: list[tuple[str, Box]]) -> tuple[str, Box]:
    boxes = [b for _, b in chars]
    xs0, ys0, xs1, ys1 = zip(*boxes, strict=True)
    return "".join(c for c, _ in chars), (min(xs0), min(ys0), max(xs1), max(ys1))


def _places(words: Sequence[tuple[str, Box]]) -> dict[str, list[Box]]:
    """Where each word (normalised: lower case, no punctuation around it) is on the page."""
    at: dict[str, list[Box]] = {}
    for text, place in words:
        for word in normalize_words(text):
            at.setdefault(word, []).append(place)
    return at


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _check_text_layer(out: Path, pages: list[Rendered]) -> None:
    """Every page's extracted words match the words drawn on it (word F1) and sit where they were drawn: nearly
    every word drawn once on its page is extracted once, its extracted box over its drawn box (IoU >= 0.5)."""
    pdf = pdfium.PdfDocument(out)
    try:
        assert len(pdf) == len(pages)
        for index, rendered in enumerate(pages):
            found = _words(pdf[index])
            counts = word_counts([w for w, _ in found], rendered.words)
            assert counts.f1 >= 0.9, (index, counts, [w for w, _ in found])
            drawn = _places([(w.text, box(w.polygon)) for line in rendered.lines for w in line.words])
            extracted = _places(found)
            once = [k for k, at in drawn.items() if len(at) == 1 and len(extracted.get(k, ())) == 1]
            assert len(once) >= 0.8 * sum(len(at) == 1 for at in drawn.values()), (index, len(once))
            apart = [(k, drawn[k][0], extracted[k][0]) for k in once if _iou(drawn[k][0], extracted[k][0]) < 0.5]
            assert len(apart) <= 0.1 * len(once), (index, apart)
    finally:
        pdf.close()


def _check_pdfa(out: Path, creator: str) -> None:
    """Declared PDF/A-2B in its XMP metadata, with an output intent, naming our engine as the OCR that made it."""
    with pikepdf.open(out) as pdf:
        meta = pdf.open_metadata()
        assert meta.pdfa_status == "2B"
        assert "/OutputIntents" in pdf.Root
        assert creator in str(meta.get("xmp:CreatorTool", "")), dict(meta)


def test_in_process_pdfa_with_the_drawn_words_at_their_places(scanned, tmp_path: Path) -> None:
    _require_ghostscript()
    scan, pages = scanned
    out, sidecar = tmp_path / "out.pdf", tmp_path / "out.txt"
    done = _ocrmypdf("--output-type", "pdfa", "--sidecar", sidecar, scan, out)
    assert done.returncode == 0, done.stderr
    _check_pdfa(out, "edge-ocr")
    _check_text_layer(out, pages)
    texts = sidecar.read_text(encoding="utf-8").split("\f")  # OCRmyPDF puts a form feed between pages
    assert len(texts) == len(pages)
    assert word_counts([texts[1]], pages[1].words).f1 >= 0.9


def test_against_a_server_pdfa_without_ghostscript(scanned, served, tmp_path: Path) -> None:
    """``--pdfa-backend internal``: OCRmyPDF declares PDF/A itself and checks it with pikepdf's validator (our
    scans and its text layer pass), so this mode needs no Ghostscript at all."""
    scan, pages = scanned
    out = tmp_path / "out.pdf"
    done = _ocrmypdf(
        "--output-type", "pdfa", "--pdfa-backend", "internal", "--edge-ocr-target", served.target, scan, out
    )
    assert done.returncode == 0, done.stderr
    _check_pdfa(out, f"edge-ocr server {served.target}")
    _check_text_layer(out, pages)


def test_a_turned_and_skewed_scan_comes_out_upright(tmp_path: Path) -> None:
    """The page as fed: turned a quarter clockwise and 2 degrees askew. ``--rotate-pages`` and ``--deskew`` take
    both from the lines our engine read, so the output page stands as the page was printed (wider than tall)."""
    upright = column_page(8, columns=1, header=False, footer=False, height=700)
    fed = upright.image.rotate(-2, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")
    scan = _scan_pdf(tmp_path / "turned.pdf", [fed.transpose(Image.Transpose.ROTATE_270)])
    out = tmp_path / "out.pdf"
    done = _ocrmypdf("--rotate-pages", "--deskew", "--output-type", "pdf", scan, out)
    assert done.returncode == 0, done.stderr
    pdf = pdfium.PdfDocument(out)
    try:
        width, height = pdf[0].get_size()  # as shown: /Rotate applied
        text = pdf[0].get_textpage().get_text_range()
        shown = pdf[0].render(scale=DPI / 72.0).to_numpy()[:, :, ::-1].copy()  # BGR, as the page shows
    finally:
        pdf.close()
    assert width > height
    assert word_counts([text], upright.words).f1 >= 0.9
    title = " ".join(upright.lines[0].text.split())
    assert " ".join(text.split()).startswith(title)  # read top to bottom: upright, not upside down
    rotation, _, skew = direction_of(get_engine().recognize(shown).lines)
    assert rotation == 0 and abs(skew) < 0.5  # the page image itself stands level (it was fed 2 degrees askew)


def test_a_sideways_page_left_as_it_is_reads_down_its_lines(tmp_path: Path) -> None:
    """Without ``--rotate-pages`` the page stays turned a quarter clockwise: its text layer reads down the page
    (hOCR's textangle turns counterclockwise, ours clockwise), every word at its place, letter after letter."""
    turned = column_page(8, columns=1, header=False, footer=False, height=700).rotated(1)
    out = tmp_path / "out.pdf"
    done = _ocrmypdf("--output-type", "pdf", _scan_pdf(tmp_path / "sideways.pdf", [turned.image]), out)
    assert done.returncode == 0, done.stderr
    _check_text_layer(out, [turned])
    pdf = pdfium.PdfDocument(out)
    try:
        text = pdf[0].get_textpage()
        title = turned.lines[0].words[0].text
        assert text.get_text_range(0, len(title)) == title
        tops = [text.get_charbox(i)[3] for i in range(len(title))]  # PDF space: y grows up the page
        assert tops == sorted(tops, reverse=True), tops
    finally:
        pdf.close()


def test_page_direction_from_the_lines() -> None:
    """Rotation is the quarter turn most of the text reads at, clockwise; skew the rest (text descending to the
    right is positive); agreement that turn's share of the text, each line counted by its length and confidence,
    and less when fewer than three lines vote."""
    page = column_page(3, columns=1, header=False, footer=False, height=700)
    assert direction_of([]) == (0, 0.0, 0.0)
    for turns in range(4):
        rotation, agreement, skew = direction_of(page.rotated(turns).lines)
        assert rotation == 90 * turns and agreement == pytest.approx(1.0) and abs(skew) < 0.1
    rotation, _, skew = direction_of(page.skewed(3.0).lines)
    assert rotation == 0 and skew == pytest.approx(3.0, abs=0.1)
    assert direction_of(page.lines[:1])[1] == pytest.approx(1 / 3)
    # one line misread upside down, with the low confidence of a wrong reading: outvoted, and no part of the skew
    first = page.lines[0]
    misread = replace(first, confidence=0.5, polygon=first.polygon[2:] + first.polygon[:2])
    rotation, agreement, skew = direction_of([*page.lines[1:], misread])
    lengths = [math.dist(*ln.polygon[:2]) for ln in page.lines]
    assert rotation == 0 and abs(skew) < 0.1
    assert agreement == pytest.approx(sum(lengths[1:]) / (sum(lengths[1:]) + 0.5 * lengths[0]))


def test_a_server_that_does_not_answer_stops_the_run_before_any_page(scanned, tmp_path: Path) -> None:
    scan, _ = scanned
    done = _ocrmypdf(
        "--edge-ocr-target", f"127.0.0.1:{free_port()}", "--edge-ocr-timeout", "5", scan, tmp_path / "o.pdf"
    )
    assert done.returncode == MISSING_DEPENDENCY, done.stderr
    assert "not serving" in done.stderr
    assert not (tmp_path / "o.pdf").exists()


def test_a_page_the_server_refuses_ends_the_run_with_its_reason(scanned, tmp_path: Path) -> None:
    """A server whose message limit is below a page image's size: OCRmyPDF's child_process_error, with the
    reason (gRPC's own here: the limit is enforced before our service sees the call)."""
    scan, _ = scanned
    small = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0, max_message_bytes=20_000))
    try:
        done = _ocrmypdf("--edge-ocr-target", small.target, scan, tmp_path / "o.pdf")
    finally:
        small.stop()
    assert done.returncode == CHILD_PROCESS_ERROR, done.stderr
    assert "[RESOURCE_EXHAUSTED]" in done.stderr
    assert not (tmp_path / "o.pdf").exists()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--pdf-renderer", "sandwich"), BAD_ARGS),  # needs a text-only PDF from the engine; ours writes hOCR
        (("--ocr-engine", "tesseract"), BAD_ARGS),  # the plugin replaces Tesseract
        (("--edge-ocr-precision", "int4"), ARGPARSE_ERROR),
    ],
)
def test_options_the_plugin_cannot_honour_are_refused(args: tuple[str, str], code: int, scanned, tmp_path) -> None:
    scan, _ = scanned
    done = _ocrmypdf(*args, scan, tmp_path / "o.pdf")
    assert done.returncode == code, done.stderr
    assert not (tmp_path / "o.pdf").exists()
