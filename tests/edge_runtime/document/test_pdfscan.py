"""The stream check before PDFium: Flate bombs refused, ordinary and non-Flate streams let through."""

from __future__ import annotations

import zlib

import pytest

from edge_runtime.document.pdfscan import check_streams
from edge_runtime.errors import InvalidDocumentError
from tests.edge_runtime.document.pdfs import flate_of_spaces, raw_pdf

MIB = 1024 * 1024


def _reason(data: bytes, per_stream: int, total: int) -> str:
    with pytest.raises(InvalidDocumentError) as caught:
        check_streams(data, per_stream, total)
    return caught.value.reason


def test_one_stream_past_the_limit() -> None:
    data = raw_pdf(contents=(flate_of_spaces(12 * MIB),))
    assert len(data) < 100_000
    assert _reason(data, 10 * MIB, 100 * MIB) == "DOCUMENT_TOO_LARGE"
    check_streams(data, 13 * MIB, 100 * MIB)  # the same stream, under a higher limit


def test_streams_past_the_total() -> None:
    data = raw_pdf(contents=(flate_of_spaces(6 * MIB), flate_of_spaces(6 * MIB)))
    check_streams(data, 10 * MIB, 13 * MIB)
    assert _reason(data, 10 * MIB, 11 * MIB) == "DOCUMENT_TOO_LARGE"


def test_ordinary_raw_and_broken_streams_pass() -> None:
    text = b"BT /F1 12 Tf 72 700 Td (Hello) Tj ET"
    check_streams(raw_pdf(contents=(text, zlib.compress(text), b"\x78\x9c not really zlib")), 1000, 1000)
    check_streams(b"", 1, 1)
