"""``doc_synth``: multi-page documents composed here, each as a born-digital PDF, a scanned PDF and scanned page
images, with every page's blocks in reading order, in the format of ``shared/eval/doc_columns`` (so the same
loader and scores read both).

Files per document NN: ``pdf/dNN.pdf`` (born-digital), ``pdf/dNN_scan.pdf`` (its pages rendered by PDFium at
DPI, "scanned", one JPEG per page), ``images/dNN_pK.jpg`` (page K of the scan). One ``labels.jsonl`` row per page:
``image``, ``pdf``, ``scanned_pdf``, ``page`` (1-based), ``columns``, ``paper``, ``fonts``, ``layout`` (which cases
the page shows), ``scan`` (angle, scale, shift, JPEG quality), ``dpi`` and ``blocks`` in reading order, each
``{"kind", "text", "points" (quad in image pixels), "pdf_box" ([x0, y0, x1, y1] points from the top-left)}``, and
``figures`` (``points`` and ``pdf_box`` of each drawing; a figure has no text and is no block).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium

from edge_runtime.evaluation.synth import docpdf, fonts
from edge_runtime.evaluation.synth.docpages import DOCUMENTS, Page, compose

__all__ = ["NAME", "DPI", "WHAT", "DOCUMENTS", "page_count", "write", "source_md"]

NAME = "doc_synth"
DPI = 200.0
WHAT = (
    "multi-page documents (1-3 columns, title and abstract across, figures, lists, running headers and footers): "
    "born-digital PDF + scanned PDF + page images, blocks in reading order"
)


def _seed(index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{NAME}:{index}".encode()).digest()[:8], "little")


def page_count(limit: int | None = None) -> int:
    return sum(len(doc.pages) for doc in DOCUMENTS[:limit])


def _raster(pdf: bytes) -> list[np.ndarray]:
    document = pdfium.PdfDocument(pdf)
    try:
        out = []
        for index in range(len(document)):
            page = document[index]
            bitmap = page.render(scale=DPI / 72.0, grayscale=True, fill_color=(255, 255, 255, 255))
            pixels = bitmap.to_numpy()
            out.append(np.ascontiguousarray(pixels if pixels.ndim == 2 else pixels[:, :, 0]))
            bitmap.close()
            page.close()
        return out
    finally:
        document.close()


def _scan(rng: np.random.Generator, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """A flatbed scan of the page: a slight turn, scale and shift, paper tone and a light gradient, blur, noise and
    JPEG (done by the caller). Returns the image, the 2x3 matrix it was moved by, and what was done."""
    h, w = grey.shape
    angle, scale = float(rng.uniform(-1.0, 1.0)), float(rng.uniform(0.99, 1.01))
    shift = (float(rng.uniform(-10, 10)), float(rng.uniform(-10, 10)))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += np.array(shift)
    moved = cv2.warpAffine(grey, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=255).astype(np.float32)
    tone = float(rng.uniform(225, 250))
    ramp = np.linspace(0.0, float(rng.uniform(-12, 12)), h, dtype=np.float32)[:, None]
    img = cv2.GaussianBlur(moved * (tone / 255.0) + ramp * (moved / 255.0), (0, 0), float(rng.uniform(0.4, 0.8)))
    img += np.asarray(rng.normal(0.0, float(rng.uniform(2, 5)), size=(h, w)), dtype=np.float32)
    done = {"angle": round(angle, 3), "scale": round(scale, 4), "shift": [round(shift[0], 1), round(shift[1], 1)]}
    return np.clip(img, 0, 255).round().astype(np.uint8), matrix, done


def _quad(box: tuple[float, float, float, float], matrix: np.ndarray) -> list[list[float]]:
    """A PDF-point box as the clockwise quad of its corners in scanned-image pixels."""
    x0, y0, x1, y1 = (v * DPI / 72.0 for v in box)
    corners = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x1, y1, 1.0], [x0, y1, 1.0]])
    return [[round(float(x), 1), round(float(y), 1)] for x, y in corners @ matrix.T]


def _row(doc: int, number: int, page: Page, matrix: np.ndarray, scan: dict) -> dict:
    def box(b: tuple[float, float, float, float]) -> list[float]:
        return [round(v, 2) for v in b]

    return {
        "image": f"images/d{doc:02d}_p{number}.jpg",
        "pdf": f"pdf/d{doc:02d}.pdf",
        "scanned_pdf": f"pdf/d{doc:02d}_scan.pdf",
        "page": number,
        "columns": page.plan.columns,
        "paper": page.paper,
        "fonts": page.fonts,
        "layout": page.layout,
        "scan": scan,
        "dpi": DPI,
        "blocks": [
            {"kind": b.kind, "text": b.text, "points": _quad(b.box, matrix), "pdf_box": box(b.box)} for b in page.blocks
        ],
        "figures": [{"points": _quad(f, matrix), "pdf_box": box(f)} for f in page.figures],
    }


def write(folder: Path, limit: int | None = None) -> int:
    """Write the set (the first ``limit`` documents) into ``folder``; return its page count. Byte-identical runs:
    one rng per document, seeded from the set name and index."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "pdf").mkdir(exist_ok=True)
    rows = []
    for index, plan in enumerate(DOCUMENTS[:limit]):
        rng = np.random.default_rng(_seed(index))
        doc = index + 1
        pages = compose(plan, rng)
        born = docpdf.born_digital(pages)
        (folder / "pdf" / f"d{doc:02d}.pdf").write_bytes(born)
        jpegs = []
        for number, (page, grey) in enumerate(zip(pages, _raster(born), strict=True), 1):
            img, matrix, scan = _scan(rng, grey)
            quality = int(rng.integers(60, 80))
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError("could not encode a page scan as JPEG")
            data = buf.tobytes()
            (folder / "images" / f"d{doc:02d}_p{number}.jpg").write_bytes(data)
            jpegs.append((data, img.shape[1], img.shape[0]))
            rows.append(_row(doc, number, page, matrix, {**scan, "jpeg_q": quality}))
        (folder / "pdf" / f"d{doc:02d}_scan.pdf").write_bytes(docpdf.scanned(jpegs, DPI))
    (folder / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "SOURCE.md").write_text(source_md(rows), encoding="utf-8")
    return len(rows)


def source_md(rows: list[dict]) -> str:
    kinds: dict[str, int] = {}
    for row in rows:
        for block in row["blocks"]:
            kinds[block["kind"]] = kinds.get(block["kind"], 0) + 1
    documents = len({row["pdf"] for row in rows})
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return (
        f"# {NAME}\n\n{WHAT[0].upper() + WHAT[1:]}. {len(rows)} pages in {documents} documents; blocks: {counts}. "
        "Kind `document` (from the name prefix), in the format of `shared/eval/doc_columns`.\n\n"
        "Rendered by `python -m edge_runtime.evaluation.synth` (`edge_runtime/evaluation/synth/docset.py`, "
        "`docpages.py`, `typeset.py`, `docpdf.py`), deterministically: document *i* is drawn from an rng seeded with "
        '`sha256("doc_synth:<i>")`.\n\n'
        "## How it is made\n\n"
        "Each document follows a fixed plan (`docpages.DOCUMENTS`), so the set always shows every case: one column "
        "(a numbered list, a figure across the page), two columns (a full-width title and abstract above the "
        "columns; a figure across both columns between two column regions; a figure inside the first column; a "
        "list), three columns (a title and abstract across; a heading across the columns between two column "
        "regions); running headers (one or two parts, or a page number at the top) and footers (`Page N`, `- N -`, "
        "a note and `N / M`). The rng picks the prose (English-like sentences of common English words in random "
        "order, with numbers and punctuation; no copyrighted text), sizes (body 8.8-11.5 pt), line pitch, "
        "justified or ragged text, paragraphs set apart by an indent or by space. A document's text flows on "
        "from column to column and page to page; a paragraph that continues in the next column is a new block "
        "there, as in `doc_columns`.\n\n"
        "The born-digital PDF is written with pikepdf: each font (DejaVu Serif, STIX General, DejaVu Sans, with "
        "their bold and italic) subset to printable ASCII and embedded as a simple TrueType font with "
        "WinAnsiEncoding; each line one `Tj` (justified with `Tw`), in reading order (the three-column document: "
        "top to bottom across the columns, as some producers draw, so there the stream order is no reading "
        "order); figures are vector drawings (bars or lines in greys, no text). Word boxes are the fonts' "
        "advance widths (no kerning, as `Tj` draws) "
        "by their typographic ascender and descender; a block's `pdf_box` is the union of its words' boxes.\n\n"
        f"The scan: PDFium renders the page at {DPI:.0f} dpi in grey, then it is turned by up to ±1°, scaled "
        "0.99-1.01 and shifted by up to 10 px about its centre, toned like paper with a light gradient, blurred "
        "(σ 0.4-0.8), given noise (σ 2-5) and saved as JPEG at quality 60-79; block quads are moved by the same "
        f"matrix. The scanned PDF embeds those JPEG bytes unchanged, one page each, at {DPI:.0f} dpi.\n\n"
        "## Reading order\n\nHeader(s) left to right, title, abstract, then the columns left to right (top to "
        "bottom in each), the column regions above a figure or heading across the columns before it, that "
        "figure's caption or heading, then the region below; a caption of a figure inside a column follows the "
        "column's text above the figure; footer and page number last.\n\n"
        "## What it covers\n\nCovers: reading order over 1-3 columns, spanning titles, abstracts, headings and "
        "figures, lists, running headers, footers and page numbers, text layer against OCR of the same pages. "
        "Does not cover: real prose, hyphenation, tables, footnotes, rotated pages, photographed pages, "
        "non-Latin scripts.\n\n"
        f"## Fonts\n\n{fonts.FONTS_NOTE}\n"
    )
