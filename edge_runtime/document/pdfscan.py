"""A bounded look at a PDF's streams before PDFium opens it: a Flate stream that inflates past a limit (a
"zip bomb" content stream that PDFium would inflate whole into memory) refuses the document."""

from __future__ import annotations

import re
import zlib

from edge_runtime.errors import InvalidDocumentError

__all__ = ["check_streams"]

# "stream" after a dictionary's ">>", then the end of line the spec requires before the data
_STREAM = re.compile(rb">>\s*stream(?:\r\n|\n|\r)")
_IN_CHUNK = 1 << 16
_OUT_CHUNK = 1 << 20


def _inflated_size(data: bytes, start: int, limit: int) -> int:
    """How many bytes the zlib stream at ``start`` inflates to, counting no further than ``limit`` + 1, in chunks
    (memory stays at about one chunk). Data that is not a zlib stream (JPEG, encrypted, another filter) counts 0."""
    inflater = zlib.decompressobj()
    total = 0
    position = start
    try:
        while not inflater.eof and position < len(data) and total <= limit:
            pending = data[position : position + _IN_CHUNK]
            position += len(pending)
            while pending and total <= limit and not inflater.eof:
                total += len(inflater.decompress(pending, _OUT_CHUNK))
                pending = inflater.unconsumed_tail
    except zlib.error:
        return total
    return total


def check_streams(data: bytes, max_stream_bytes: int, max_inflated_bytes: int) -> None:
    """Raise DOCUMENT_TOO_LARGE if a Flate stream of ``data`` inflates past ``max_stream_bytes``, or all of them
    together past ``max_inflated_bytes`` (which bounds the scan's own time: inflating is about 1 GB/s).

    A scan of the raw bytes, not a parse: it finds streams wherever they are (also in a broken file PDFium would
    repair) and cannot see into encrypted streams.
    """
    total = 0
    for match in _STREAM.finditer(data):
        size = _inflated_size(data, match.end(), min(max_stream_bytes, max_inflated_bytes - total))
        total += size
        if size > max_stream_bytes:
            raise InvalidDocumentError(
                f"a stream at byte {match.end():,} inflates past {max_stream_bytes:,} bytes", "DOCUMENT_TOO_LARGE"
            )
        if total > max_inflated_bytes:
            raise InvalidDocumentError(
                f"the document's streams inflate past {max_inflated_bytes:,} bytes", "DOCUMENT_TOO_LARGE"
            )
