"""The stream's text checks under the name streams use: ``edge_runtime.text_checks`` (shared with key fields)."""

from edge_runtime.text_checks import (
    CHECKS,
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    TextFilter,
    check_names,
    compile_patterns,
    iban_ok,
    iso6346_ok,
)

__all__ = [
    "CHECKS",
    "TextFilter",
    "iso6346_ok",
    "iban_ok",
    "compile_patterns",
    "check_names",
    "MAX_PATTERNS",
    "MAX_PATTERN_LENGTH",
]
