"""What a document may cost (bytes, pages, frames, pixels), the page ranges a caller asks for, and the DPI a PDF
page is rendered at: one frozen dataclass the server fills from its configuration, and two pure rules on it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from edge_runtime.errors import ConfigurationError, InvalidDocumentError

__all__ = ["DocumentLimits", "parse_page_ranges", "select_pages", "choose_dpi"]

POINTS_PER_INCH = 72.0


@dataclass(frozen=True)
class DocumentLimits:
    """Limits on one document; exceeding one raises InvalidDocumentError with a stable reason.

    ``max_frames`` bounds what the container holds (PDF pages, TIFF frames), counted before any page is decoded:
    over it, the whole document is refused (TOO_MANY_PAGES). ``max_pages`` bounds the pages read from it: the
    selected pages after the first ``max_pages`` come back refused one by one (TOO_MANY_PAGES), never dropped.
    ``target_side``: a PDF page is rendered so that its longer side lands near this many pixels, the detector's
    working size (``EngineConfig.det_max_side_len``), at a DPI within [min_dpi, max_dpi].
    """

    max_bytes: int = 200 * 1024 * 1024
    max_pages: int = 2000
    max_frames: int = 10_000
    max_pixels_per_page: int = 40_000_000  # the runtime's image limit (imageio.decode_image)
    max_image_pixels: int = 200_000_000  # an image embedded in a PDF page: PDFium decodes it whole to render it
    max_stream_bytes: int = 256 * 1024 * 1024  # one PDF stream, inflated (PDFium inflates a content stream whole)
    max_inflated_bytes: int = 4 * 1024 * 1024 * 1024  # all of a PDF's streams, inflated: bounds the check's time
    target_side: int = 2000
    min_dpi: float = 72.0
    max_dpi: float = 300.0

    def __post_init__(self) -> None:
        counts = (
            self.max_bytes,
            self.max_pages,
            self.max_frames,
            self.max_pixels_per_page,
            self.max_image_pixels,
            self.max_stream_bytes,
            self.max_inflated_bytes,
        )
        if min(counts) < 1 or self.target_side < 32:
            raise ConfigurationError("document limits must be >= 1 and target_side >= 32")
        if not 0 < self.min_dpi <= self.max_dpi:
            raise ConfigurationError(f"need 0 < min_dpi <= max_dpi, got {self.min_dpi} and {self.max_dpi}")


_RANGE = re.compile(r"^(\d+)(?:\s*(-)\s*(\d*))?$")


def parse_page_ranges(text: str) -> tuple[tuple[int, int | None], ...]:
    """``"1-3,7,10-"`` -> ((1, 3), (7, 7), (10, None)): 1-based, inclusive; an open end means "to the last page".

    An empty text selects every page (returns ()). Anything else that is not such a list (a zero, a reversed
    range, a stray comma, a letter) raises PAGE_RANGE_INVALID.
    """
    if not text.strip():
        return ()
    ranges: list[tuple[int, int | None]] = []
    for part in text.split(","):
        match = _RANGE.match(part.strip())
        if match is None:
            raise InvalidDocumentError(f"page range {part.strip()!r} is not N, N-M or N-", "PAGE_RANGE_INVALID")
        first = int(match.group(1))
        last: int | None = first if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
        if first < 1 or (last is not None and last < first):
            raise InvalidDocumentError(f"page range {part.strip()!r} is empty or starts at 0", "PAGE_RANGE_INVALID")
        ranges.append((first, last))
    return tuple(ranges)


def select_pages(text: str, page_count: int) -> tuple[int, ...]:
    """The 1-based page numbers ``text`` selects from a document of ``page_count`` pages, in document order, each
    once. A range that names a page the document does not have raises PAGE_RANGE_INVALID (never cut short)."""
    ranges = parse_page_ranges(text)
    if not ranges:
        return tuple(range(1, page_count + 1))
    chosen: set[int] = set()
    for first, last in ranges:
        end = page_count if last is None else last
        if end > page_count or first > page_count:
            raise InvalidDocumentError(
                f"page range {first}-{end} is beyond the document's {page_count} pages", "PAGE_RANGE_INVALID"
            )
        chosen.update(range(first, end + 1))
    return tuple(sorted(chosen))


def choose_dpi(width_pt: float, height_pt: float, limits: DocumentLimits, native: float | None = None) -> float:
    """The DPI to render a page of ``width_pt`` x ``height_pt`` points at, or PAGE_TOO_LARGE.

    Rule: the longer side lands on ``target_side`` pixels (the detector's working size: larger is only scaled down
    again, smaller loses small print), clamped to [min_dpi, max_dpi] (a receipt is not blown up past 300 DPI, a
    poster not shrunk below legibility). A page that is one scan (``native``: the scan's own DPI) is rendered at
    that DPI, within the same clamp: its own pixels, neither blurred up nor thinned out, so it reads as the scan's
    image would. If the page then has more than ``max_pixels_per_page`` pixels, the DPI is
    lowered to fit, but never below ``min_dpi``: a page that does not fit even at ``min_dpi`` (a MediaBox of 200 x
    200 inches) is refused, since text read at a lower resolution would be lost anyway.
    """
    if not (width_pt > 0 and height_pt > 0 and math.isfinite(width_pt) and math.isfinite(height_pt)):
        raise InvalidDocumentError(f"page has no usable size ({width_pt} x {height_pt} pt)", "DOCUMENT_UNREADABLE")
    longer_in = max(width_pt, height_pt) / POINTS_PER_INCH
    wanted = native if native is not None and native > 0 and math.isfinite(native) else limits.target_side / longer_in
    dpi = min(max(wanted, limits.min_dpi), limits.max_dpi)
    area_in2 = (width_pt / POINTS_PER_INCH) * (height_pt / POINTS_PER_INCH)
    fit = math.sqrt(limits.max_pixels_per_page / area_in2) * 0.999  # rounding up a side must not tip it over
    if fit < dpi:
        if fit < limits.min_dpi:
            raise InvalidDocumentError(
                f"page is {width_pt / POINTS_PER_INCH:.0f} x {height_pt / POINTS_PER_INCH:.0f} in: over "
                f"{limits.max_pixels_per_page:,} pixels even at {limits.min_dpi:g} DPI",
                "PAGE_TOO_LARGE",
            )
        dpi = fit
    return dpi
