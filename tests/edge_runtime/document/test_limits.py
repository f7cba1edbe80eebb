"""Page ranges, the DPI rule and the limits' own validation."""

from __future__ import annotations

import pytest

from edge_runtime.document.limits import DocumentLimits, choose_dpi, parse_page_ranges, select_pages
from edge_runtime.errors import ConfigurationError, InvalidDocumentError

LETTER = (612.0, 792.0)


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("", ()),
        ("  ", ()),
        ("7", ((7, 7),)),
        ("1-3,7", ((1, 3), (7, 7))),
        (" 2 - 4 , 9- ", ((2, 4), (9, None))),
    ],
)
def test_page_ranges_parse(text: str, ranges: tuple[tuple[int, int | None], ...]) -> None:
    assert parse_page_ranges(text) == ranges


@pytest.mark.parametrize("text", ["0", "3-1", "1,,2", "a", "1-2-3", "-4", "1;2", "1.5", ","])
def test_page_ranges_refuse_what_is_not_a_range(text: str) -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        parse_page_ranges(text)
    assert caught.value.reason == "PAGE_RANGE_INVALID"


def test_selection_is_in_document_order_each_page_once() -> None:
    assert select_pages("7,1-3,2", 8) == (1, 2, 3, 7)
    assert select_pages("6-", 8) == (6, 7, 8)
    assert select_pages("", 3) == (1, 2, 3)


@pytest.mark.parametrize("text", ["9", "7-9", "12-"])
def test_a_page_the_document_lacks_is_refused_not_cut(text: str) -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        select_pages(text, 8)
    assert caught.value.reason == "PAGE_RANGE_INVALID"


def test_dpi_puts_the_longer_side_on_the_detector_size() -> None:
    limits = DocumentLimits(target_side=2000)
    dpi = choose_dpi(*LETTER, limits)
    assert round(dpi * 11) == 2000  # 11 in tall
    assert choose_dpi(LETTER[1], LETTER[0], limits) == dpi  # landscape: the same rule on the longer side


def test_dpi_stays_within_its_bounds() -> None:
    limits = DocumentLimits(target_side=2000, min_dpi=72, max_dpi=300)
    assert choose_dpi(3 * 72, 4 * 72, limits) == 300  # a receipt is not blown up past max_dpi
    assert choose_dpi(33 * 72, 47 * 72, limits) == 72  # A0 is not shrunk below min_dpi


def test_dpi_is_lowered_to_fit_the_pixel_limit() -> None:
    limits = DocumentLimits(max_pixels_per_page=1_000_000)
    dpi = choose_dpi(*LETTER, limits)
    assert 72 <= dpi < 2000 / 11
    assert round(8.5 * dpi) * round(11 * dpi) <= 1_000_000


def test_a_page_over_the_pixel_limit_even_at_min_dpi_is_refused() -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        choose_dpi(200 * 72, 200 * 72, DocumentLimits())
    assert caught.value.reason == "PAGE_TOO_LARGE"


@pytest.mark.parametrize("size", [(0.0, 792.0), (612.0, -1.0), (float("nan"), 792.0), (float("inf"), 1.0)])
def test_a_page_without_a_size_is_unreadable(size: tuple[float, float]) -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        choose_dpi(*size, DocumentLimits())
    assert caught.value.reason == "DOCUMENT_UNREADABLE"


@pytest.mark.parametrize(
    "changes",
    [{"max_pages": 0}, {"max_bytes": 0}, {"target_side": 8}, {"min_dpi": 0}, {"min_dpi": 400, "max_dpi": 300}],
)
def test_limits_refuse_settings_that_cannot_work(changes: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        DocumentLimits(**changes)  # type: ignore[arg-type]
