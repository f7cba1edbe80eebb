"""Masking of personal data in recognized text (e-mail addresses, phone numbers, card numbers, own patterns).

Plain strings in, plain strings out: no grpc, no protobuf. The server applies ``Redactor.line`` to every text
line (and its words) and stream event at the boundary where responses leave the process, and ``redact_page`` to a
document's pages before they are converted or written into output files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from edge_runtime.document.structure import Block, DocLine, Page, Paragraph

__all__ = ["Redactor", "luhn_ok", "redact_page"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# digits with the separators people print between groups; lengths are checked after the match
_CARD = re.compile(r"(?<![\w])\d(?:[ -]?\d){12,18}(?![\w])")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d ()./-]{5,}\d(?![\w])")
_DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")  # 2024-01-15, 15.01.2024: not phone numbers
LABELS = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]"}


def luhn_ok(digits: str) -> bool:
    """The Luhn check every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


class Redactor:
    """Finds and masks the kinds asked for (``email``, ``phone``, ``card``) and extra regular expressions."""

    def __init__(self, kinds: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        self.kinds = tuple(kinds)
        self.patterns = tuple(re.compile(p) for p in patterns)

    def __bool__(self) -> bool:
        return bool(self.kinds or self.patterns)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, label) to mask, in order."""
        found: list[tuple[int, int, str]] = []

        def add(start: int, end: int, label: str) -> None:
            if all(end <= s or start >= e for s, e, _ in found):
                found.append((start, end, label))

        if "email" in self.kinds:
            for m in _EMAIL.finditer(text):
                add(m.start(), m.end(), LABELS["email"])
        if "card" in self.kinds:
            for m in _CARD.finditer(text):
                digits = _digits(m.group())
                if 13 <= len(digits) <= 19 and luhn_ok(digits):
                    add(m.start(), m.end(), LABELS["card"])
        if "phone" in self.kinds:
            for m in _PHONE.finditer(text):
                digits = _digits(m.group())
                if 7 <= len(digits) <= 15 and not _DATE.fullmatch(m.group().strip()):
                    add(m.start(), m.end(), LABELS["phone"])
        for pattern in self.patterns:
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    add(m.start(), m.end(), "[REDACTED]")
        return sorted(found)

    def text(self, text: str) -> str:
        """``text`` with every span masked."""
        if not self or not text:
            return text
        out, last = [], 0
        for start, end, label in self.spans(text):
            out.append(text[last:start])
            out.append(label)
            last = end
        out.append(text[last:])
        return "".join(out)

    def line(self, text: str, words: Sequence[str] = ()) -> tuple[str, list[str]]:
        """A line and its words, masked alike: a word inside a masked span of the line is masked too (a card
        number read as four words), and a word not found in the line is masked on its own."""
        if not self:
            return text, list(words)
        spans = self.spans(text)
        masked_words, cursor = [], 0
        for word in words:
            at = text.find(word, cursor) if word else -1
            if at < 0:
                masked_words.append(self.text(word))
                continue
            cursor = at + len(word)
            hit = next((label for s, e, label in spans if s < cursor and at < e), None)
            masked_words.append(hit if hit is not None else word)
        return self.text(text), masked_words


def redact_page(page: Page, redactor: Redactor) -> Page:
    """``page`` with every line and its words masked alike (``Redactor.line``); paragraph, block and page text are
    joined from the words, so they agree with them."""
    if not redactor:
        return page

    def line(ln: DocLine) -> DocLine:
        text, words = redactor.line(ln.text, [w.text for w in ln.words])
        return replace(ln, text=text, words=tuple(replace(w, text=t) for w, t in zip(ln.words, words, strict=True)))

    def paragraph(p: Paragraph) -> Paragraph:
        return replace(p, lines=tuple(line(ln) for ln in p.lines))

    def block(b: Block) -> Block:
        return replace(b, paragraphs=tuple(paragraph(p) for p in b.paragraphs))

    return replace(page, blocks=tuple(block(b) for b in page.blocks))
