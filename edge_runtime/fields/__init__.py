"""Key fields and form pairs read from a page's lines: receipts and invoices, forms, and users' own field sets.

Free of any transport: ``extract`` takes lines and set names and gives an ``Extraction``; ``messages`` turns it
into the ocr.v1 messages, the server passes the request's set names through.
"""

from edge_runtime.fields.config import load_fields_file, parse_fields
from edge_runtime.fields.extract import check_sets, extract, page_lines
from edge_runtime.fields.model import Extraction, Field, KeyValue, Span
from edge_runtime.fields.rules import FieldRule, FieldSet

__all__ = [
    "extract",
    "check_sets",
    "page_lines",
    "load_fields_file",
    "parse_fields",
    "Extraction",
    "Field",
    "KeyValue",
    "Span",
    "FieldRule",
    "FieldSet",
]
