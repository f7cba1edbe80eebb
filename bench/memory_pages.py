"""The issue's document load for the memory benches: receipts, forms and full-page scans (up to ~2550 x 3300).

Receipts come from ``sroie`` / ``kie_sroie``, forms from ``kv_funsd``, multi-column pages from ``doc_columns``
(all in the shared eval directory), full-page scans are the ``doc_scans`` PDFs rendered at 300 dpi as JPEG, as a
flatbed scanner sends them (receipts on a page: up to 1725 x 3300). ``letter`` adds full letter pages of text: the
``doc_columns`` PDFs rendered at 300 dpi (2550 x 3300). Missing sets are skipped; the project's synthetic receipts
stand in when none is there.
"""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

__all__ = ["document_pages", "EVAL_DIR"]

_REPO = Path(__file__).resolve().parents[1]
_CANDIDATES = [_REPO / "shared" / "eval", _REPO.parent / "shared" / "eval", _REPO.parents[1] / "shared" / "eval"]
EVAL_DIR = Path(os.environ.get("OCR_EVAL_DIR") or next((c for c in _CANDIDATES if c.is_dir()), _CANDIDATES[0]))
SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


def _files(folder: Path, limit: int) -> list[bytes]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES) if folder.is_dir() else []
    return [p.read_bytes() for p in paths[:limit]]


def _scans(folder: Path, limit: int, dpi: int = 300, box: tuple[int, int] = (2550, 3300)) -> list[bytes]:
    """Pages of the PDFs rendered at ``dpi``, within ``box`` (a letter page at 300 dpi), JPEG-encoded."""
    import pypdfium2

    pages: list[bytes] = []
    for pdf in sorted(folder.glob("*.pdf")) if folder.is_dir() else []:
        document = pypdfium2.PdfDocument(str(pdf))
        try:
            for index in range(len(document)):
                if len(pages) >= limit:
                    return pages
                page = document[index]
                width, height = page.get_size()  # points
                scale = min(dpi / 72, box[0] / min(width, height), box[1] / max(width, height))
                image = page.render(scale=scale).to_pil().convert("RGB")
                out = io.BytesIO()
                image.save(out, "JPEG", quality=85)
                pages.append(out.getvalue())
        finally:
            document.close()
    return pages


def document_pages(limit: int = 4, eval_dir: Path = EVAL_DIR, letter: bool = False) -> list[bytes]:
    """Encoded pages, ``limit`` of each kind, interleaved (receipt, form, column page, scan, [letter,] receipt, ...)."""
    kinds = [
        _files(eval_dir / "sroie", limit) or _files(eval_dir / "kie_sroie", limit),
        _files(eval_dir / "kv_funsd", limit),
        _files(eval_dir / "doc_columns", limit),
        _scans(eval_dir / "doc_scans" / "pdf", limit),
    ]
    if letter:
        kinds.append(_scans(eval_dir / "doc_columns" / "pdf", limit))
    pages = [page for group in itertools.zip_longest(*kinds) for page in group if page is not None]
    if not pages:
        from edge_runtime.evaluation import synth

        pages = _files(synth.ensure() / "synth_receipts", limit)
    return pages
