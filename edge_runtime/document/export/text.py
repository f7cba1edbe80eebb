"""Plain text: the reading flow, paragraphs apart by a blank line, pages apart by a form feed."""

from __future__ import annotations

from collections.abc import Iterable

from edge_runtime.document.structure import Page

__all__ = ["to_text"]


def to_text(pages: Iterable[Page]) -> str:
    """The pages' text as ``pdftotext`` and Tesseract lay it out: each page ends with a form feed, so a page's
    position in the file is its number even when it holds no text (an image, a page that failed)."""
    return "".join(_page_text(page) + "\f" for page in pages)


def _page_text(page: Page) -> str:
    text = page.text  # the flow only: running headers, footers and page numbers are left out
    return text + "\n" if text else ""
