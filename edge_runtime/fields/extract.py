"""Fields of a page by set name: the built-in receipt/invoice fields and form pairs, and the users' own sets.

A page that asks for no set costs nothing; each asked set runs once on the page's lines (at most
``text.MAX_LINES`` of them, so a page of 5,000 tiny boxes is bounded).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from edge_runtime.errors import ConfigurationError
from edge_runtime.fields.model import Extraction, Field, KeyValue
from edge_runtime.fields.pairs import form_pairs
from edge_runtime.fields.receipt import receipt_fields
from edge_runtime.fields.rules import FieldSet, apply_set
from edge_runtime.fields.text import LineLike, lines_of

__all__ = ["extract", "check_sets", "page_lines", "RECEIPT_SETS"]

_RECEIPT = ("receipt", "invoice")  # one rule set: receipts and invoices carry the same fields
RECEIPT_SETS = frozenset(_RECEIPT)  # the sets whose company and address are a page's header lines
_FORM = "form"


def check_sets(names: Iterable[str], user: Mapping[str, FieldSet] | None = None) -> tuple[str, ...]:
    """The asked set names, or ConfigurationError ``FIELD_SET_UNKNOWN`` naming the ones this host lacks."""
    names = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    known = (*_RECEIPT, _FORM, *(user or {}))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigurationError(
            f"unknown field set(s) {', '.join(unknown)}; this server has {', '.join(known)}", "FIELD_SET_UNKNOWN"
        )
    return names


def extract(lines: Iterable[LineLike], sets: Sequence[str], user: Mapping[str, FieldSet] | None = None) -> Extraction:
    """The fields and form pairs of the asked ``sets`` on a page's lines (any order, any line type with text,
    confidence, polygon and optionally words)."""
    names = check_sets(sets, user)
    if not names:
        return Extraction()
    page = lines_of(lines)
    fields: list[Field] = []
    pairs: list[KeyValue] = []
    if any(n in _RECEIPT for n in names):
        fields.extend(receipt_fields(page))
    if _FORM in names:
        pairs.extend(form_pairs(page))
    for name in names:
        if user and name in user:
            fields.extend(apply_set(user[name], page))
    return Extraction(tuple(fields), tuple(pairs))


def page_lines(page: object) -> list[LineLike]:
    """The lines of a read page (``document.structure.Page``), every block's."""
    return [line for b in page.blocks for p in b.paragraphs for line in p.lines]  # type: ignore[attr-defined]
