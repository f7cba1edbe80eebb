"""Document peers for ``bench.documents``: Tesseract 5 (its TSV order, its paragraphs as blocks), RapidOCR lines
top to bottom, poppler's pdftotext on the born-digital PDFs, and OCRmyPDF (with Tesseract, or with our plugin).

Each peer is a command or a package that may be absent: ``missing_document_peers`` says which and why, so a run
lists what it skipped instead of failing. The settings are those of ``shared/eval/BASELINES_DOCS.md``.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.doc_scoring import box_polygon

__all__ = [
    "PLUGIN_MODULE",
    "PeerPage",
    "tool_version",
    "missing_document_peers",
    "plugin_importable",
    "tesseract_page",
    "rapidocr_page_reader",
    "pdftotext_page",
    "ocrmypdf_command",
]

PLUGIN_MODULE = "edge_runtime.document.ocrmypdf_plugin"  # our OCRmyPDF plugin, a column when importable
ROW_BAND = 10.0  # pixels: RapidOCR's lines sorted by centre y in bands this high, then x (as BASELINES_DOCS.md)
Quad = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class PeerPage:
    """A peer's page: its words in its own reading order and its blocks (None: it has none); ``seconds`` when only
    part of the work it took was the reading (else the caller times the whole call)."""

    words: list[str]
    blocks: list[Quad] | None
    seconds: float | None = None


def tool_version(command: list[str]) -> str:
    """The first line a tool prints for its version ('' when it does not run)."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else ""


def plugin_importable() -> bool:
    """Whether our OCRmyPDF plugin module is there (another part of the project adds it)."""
    try:
        return importlib.util.find_spec(PLUGIN_MODULE) is not None
    except ModuleNotFoundError:
        return False


def missing_document_peers() -> dict[str, str]:
    """Peer -> why it cannot run here; a peer not named runs."""
    missing = {}
    if shutil.which("tesseract") is None:
        missing["tesseract"] = "no tesseract command (Debian: tesseract-ocr tesseract-ocr-eng)"
    if shutil.which("pdftotext") is None:
        missing["pdftotext"] = "no pdftotext command (Debian: poppler-utils)"
    if importlib.util.find_spec("rapidocr") is None:
        missing["rapidocr"] = "rapidocr not importable (requirements-dev.txt)"
    if importlib.util.find_spec("ocrmypdf") is None:
        missing["ocrmypdf"] = "ocrmypdf not importable (pip install ocrmypdf)"
    elif "tesseract" in missing:
        missing["ocrmypdf"] = "OCRmyPDF needs Tesseract: " + missing["tesseract"]
    if "ocrmypdf" in missing:
        missing["ocrmypdf-pdfa"] = missing["ocrmypdf"]
    elif shutil.which("gs") is None:
        missing["ocrmypdf-pdfa"] = "no gs command: OCRmyPDF's PDF/A output needs Ghostscript (Debian: ghostscript)"
    if not plugin_importable():
        missing["ocrmypdf-plugin"] = f"not installed ({PLUGIN_MODULE} is not importable)"
    elif "ocrmypdf" in missing:
        missing["ocrmypdf-plugin"] = missing["ocrmypdf"]
    return missing


def tesseract_page(image: Path, psm: int = 3) -> PeerPage:
    """Tesseract 5 on one image with one thread: words in its TSV order, its paragraphs as blocks (image pixels)."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    out = subprocess.run(
        ["tesseract", str(image), "stdout", "--psm", str(psm), "-l", "eng", "tsv"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    words, blocks = [], []
    for row in csv.DictReader(io.StringIO(out.stdout), delimiter="\t", quoting=csv.QUOTE_NONE):
        level = int(row["level"])
        left, top, width, height = (float(row[k]) for k in ("left", "top", "width", "height"))
        if level == 3:
            blocks.append(box_polygon(left, top, left + width, top + height))
        elif level == 5 and (row.get("text") or "").strip():
            words.append(str(row["text"]))
    return PeerPage(words, blocks)


def rapidocr_page_reader() -> Callable[[Path], PeerPage]:
    """RapidOCR 3.10 with its defaults; its lines sorted top to bottom (centre y in ``ROW_BAND`` bands, then x)."""
    from bench.peers import rapidocr_engine

    engine = rapidocr_engine()

    def read(image: Path) -> PeerPage:
        result = engine(str(image))
        texts = getattr(result, "txts", None) or ()
        boxes = getattr(result, "boxes", None)
        if boxes is None:
            return PeerPage([w for t in texts for w in t.split()], None)
        keyed = []
        for text, box in zip(texts, boxes, strict=True):
            ys = [float(y) for _, y in box]
            keyed.append(((sum(ys) / len(ys)) // ROW_BAND, min(float(x) for x, _ in box), text))
        return PeerPage([w for *_, t in sorted(keyed) for w in t.split()], None)

    return read


def pdftotext_page(pdf: Path, page: int) -> PeerPage:
    """poppler's pdftotext on one born-digital page: its default reading order, its ``-bbox-layout`` blocks (points,
    from the page's top-left, as ``pdf_box``)."""
    pages = ["-f", str(page), "-l", str(page)]
    start = time.perf_counter()
    text = subprocess.run(["pdftotext", *pages, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - start  # the reading; the -bbox-layout run below is for scoring its blocks
    layout = subprocess.run(
        ["pdftotext", *pages, "-bbox-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    blocks = []
    for element in ET.fromstring(layout).iter():
        if element.tag.rsplit("}", 1)[-1] == "block":
            x0, y0, x1, y1 = (float(element.attrib[k]) for k in ("xMin", "yMin", "xMax", "yMax"))
            blocks.append(box_polygon(x0, y0, x1, y1))
    return PeerPage(text.split(), blocks, seconds)


def ocrmypdf_command(source: Path, out: Path, output_type: str, jobs: int, plugin: bool = False) -> list[str]:
    """OCRmyPDF on a scanned PDF as a user runs it: its defaults, ``--jobs``, with Tesseract or our plugin (its
    engine given ``jobs`` threads, as our own command line is)."""
    command = [sys.executable, "-m", "ocrmypdf", "--quiet", "--output-type", output_type, "--jobs", str(jobs)]
    if plugin:
        command += ["--plugin", PLUGIN_MODULE, "--edge-ocr-threads", str(jobs)]
    return [*command, str(source), str(out)]
