"""Users' own fields: a value found by its printed label (synonyms), its shape (patterns, check digits) and where it
stands from the label (same line, right on the row, below).

A field with labels takes the text after or next to a label and keeps it when its shape fits (no patterns and no
checks: any text). A field without labels scans each line for its shape: pattern search, and check-digit codes
over runs of up to four words (``CSQU 305438 3``). Patterns are the stream checks' (``stream.validators``), compiled
once at start and refused when they can backtrack without bound (``config.unsafe_pattern``); lines are capped at
``text.MAX_LINE_CHARS``, so one search is bounded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from edge_runtime.document.structure import bbox_of
from edge_runtime.fields.model import Field
from edge_runtime.fields.normalise import currency_of, decimal_amount, iso_date
from edge_runtime.fields.text import Line, rows_of
from edge_runtime.text_checks import CHECKS

__all__ = ["Position", "Kind", "FieldRule", "FieldSet", "apply_set"]


class Position(StrEnum):
    """Where a value stands from its label."""

    ANY = "any"  # same line, else right on the row, else below
    SAME_LINE = "same_line"
    RIGHT = "right"
    BELOW = "below"


class Kind(StrEnum):
    """How a value is normalised."""

    TEXT = "text"
    DATE = "date"  # ISO 8601
    AMOUNT = "amount"  # decimal with two places
    CURRENCY = "currency"  # ISO 4217
    CODE = "code"  # upper-case, spaces and hyphens removed


@dataclass(frozen=True)
class FieldRule:
    name: str
    labels: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    checks: tuple[str, ...] = ()
    position: Position = Position.ANY
    kind: Kind = Kind.TEXT

    def fits(self, text: str) -> bool:
        """The value's shape is right: a pattern matches it whole (as read or without spaces) or a check passes."""
        text = text.strip()
        if not text:
            return False
        if not self.patterns and not self.checks:
            return True
        spaceless = "".join(text.split())
        return any(p.fullmatch(text) or p.fullmatch(spaceless) for p in self.patterns) or any(
            CHECKS[c](text) for c in self.checks
        )


@dataclass(frozen=True)
class FieldSet:
    name: str
    rules: tuple[FieldRule, ...]


def apply_set(field_set: FieldSet, lines: Sequence[Line]) -> list[Field]:
    """The fields of ``field_set`` found on the lines: the first fitting value of each rule."""
    rows = rows_of(lines)
    out = []
    for rule in field_set.rules:
        found = _by_label(rule, rows) if rule.labels else _by_shape(rule, lines)
        if found:
            text, where = found
            value = _normalised(rule.kind, text)
            confidence = sum(ln.confidence for ln in where) / len(where)
            out.append(Field(rule.name, value, text, confidence, bbox_of([ln.polygon for ln in where]), field_set.name))
    return out


def _normalised(kind: Kind, text: str) -> str:
    if kind is Kind.DATE:
        return iso_date(text)
    if kind is Kind.AMOUNT:
        return decimal_amount(text)
    if kind is Kind.CURRENCY:
        return currency_of(text)
    if kind is Kind.CODE:
        return re.sub(r"[\s-]", "", text).upper()
    return text


def _label_at(rule: FieldRule, text: str) -> re.Match[str] | None:
    for label in rule.labels:
        m = re.search(r"(?<!\w)" + re.escape(label) + r"(?!\w)\s*[:#.]?\s*", text, re.I)
        if m:
            return m
    return None


def _by_label(rule: FieldRule, rows: Sequence[Sequence[Line]]) -> tuple[str, list[Line]] | None:
    for r, row in enumerate(rows):
        for i, line in enumerate(row):
            m = _label_at(rule, line.text)
            if not m:
                continue
            candidates: list[tuple[str, list[Line]]] = []
            if rule.position in (Position.ANY, Position.SAME_LINE):
                candidates.append((line.text[m.end() :].strip(), [line]))
            if rule.position in (Position.ANY, Position.RIGHT) and i + 1 < len(row):
                candidates.append((row[i + 1].text.strip(), [row[i + 1]]))
            if rule.position in (Position.ANY, Position.BELOW) and r + 1 < len(rows):
                under = [ln for ln in rows[r + 1] if ln.x0 < line.x1 and ln.x1 > line.x0]
                if under and under[0].y0 - line.y1 < 1.5 * line.height:
                    candidates.append((under[0].text.strip(), [under[0]]))
            for text, where in candidates:
                value = _fitting_part(rule, text)
                if value:
                    return value, where
    return None


def _fitting_part(rule: FieldRule, text: str) -> str:
    """``text`` when it fits, else its longest leading run of words that fits (a value with more after it)."""
    words = text.split()
    for n in range(min(len(words), 8), 0, -1):
        candidate = " ".join(words[:n])
        if rule.fits(candidate):
            return candidate
    return ""


def _by_shape(rule: FieldRule, lines: Sequence[Line]) -> tuple[str, list[Line]] | None:
    for line in lines:
        for pattern in rule.patterns:
            m = pattern.search(line.text)
            if m and m.group(0).strip():
                return m.group(0).strip(), [line]
        if rule.checks:
            words = line.text.split()
            for n in (4, 3, 2, 1):
                for start in range(len(words) - n + 1):
                    candidate = " ".join(words[start : start + n])
                    if any(CHECKS[c](candidate) for c in rule.checks):
                        return candidate, [line]
    return None
