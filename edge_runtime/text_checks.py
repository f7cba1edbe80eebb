"""Domain checks on text: patterns a reading must fully match, and codes with a check digit (streams and key fields).

A stream with checks reports a track only through readings that pass one of them (``TextFilter.accepts``): a
pattern (``re.fullmatch``, on the reading as read or with its spaces removed, since OCR splits and merges
words) or a built-in check of a code's check digit:

    ISO6346   freight container code: 3-letter owner code, category U/J/Z, 6-digit serial, check digit
              (letters valued 10..38 skipping multiples of 11, weights 2**i, sum mod 11 mod 10)
    IBAN      international bank account number: country, 2 check digits, 11-30 letters/digits, mod 97 == 1

Checks ignore spaces, hyphens and case, so ``CSQU 305438-3`` and ``gb82 west 1234 5698 7654 32`` pass.
Outside ``edge_runtime.stream`` (which keeps the name ``stream.validators``), so that key fields
(``edge_runtime.fields``) use the same checks and streams can carry fields without an import cycle.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge_runtime.errors import ConfigurationError

__all__ = ["CHECKS", "TextFilter", "iso6346_ok", "iban_ok", "compile_patterns", "MAX_PATTERNS", "MAX_PATTERN_LENGTH"]

MAX_PATTERNS = 32  # per stream
MAX_PATTERN_LENGTH = 256  # characters per pattern

_ISO6346 = re.compile(r"[A-Z]{3}[UJZ][0-9]{7}")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def _letter_values() -> dict[str, int]:
    values, value = {}, 10
    for letter in string.ascii_uppercase:
        if value % 11 == 0:  # 11, 22 and 33 are skipped
            value += 1
        values[letter] = value
        value += 1
    return values


_ISO_VALUES = _letter_values() | {d: int(d) for d in string.digits}


def _compact(text: str) -> str:
    return "".join(ch for ch in text if ch not in " -\t").upper()


def iso6346_ok(text: str) -> bool:
    """``text`` is an ISO 6346 container code whose check digit matches (``CSQU3054383`` is one)."""
    code = _compact(text)
    if not _ISO6346.fullmatch(code):
        return False
    total = sum(_ISO_VALUES[ch] << i for i, ch in enumerate(code[:10]))
    return total % 11 % 10 == int(code[10])


def iban_ok(text: str) -> bool:
    """``text`` is an IBAN whose check digits match (ISO 13616: moved to the end, as a number mod 97 == 1)."""
    code = _compact(text)
    if not _IBAN.fullmatch(code):
        return False
    moved = code[4:] + code[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


CHECKS: dict[str, Callable[[str], bool]] = {"ISO6346": iso6346_ok, "IBAN": iban_ok}


def compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """Compiled patterns, or ConfigurationError ``TEXT_PATTERN_INVALID`` naming the first bad one."""
    patterns = tuple(patterns)
    if len(patterns) > MAX_PATTERNS:
        raise ConfigurationError(f"{len(patterns)} text patterns; at most {MAX_PATTERNS}", "TEXT_PATTERN_INVALID")
    out = []
    for i, pattern in enumerate(patterns):
        if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
            raise ConfigurationError(
                f"text pattern {i} is empty or longer than {MAX_PATTERN_LENGTH} characters", "TEXT_PATTERN_INVALID"
            )
        try:
            out.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigurationError(
                f"text pattern {i} ({pattern!r}) is not a regular expression: {exc}", "TEXT_PATTERN_INVALID"
            ) from None
    return tuple(out)


def check_names(checks: Iterable[str]) -> tuple[str, ...]:
    """Check names, upper-cased, or ConfigurationError ``TEXT_CHECK_UNKNOWN``."""
    names = tuple(str(c).strip().upper() for c in checks if str(c).strip())
    unknown = [c for c in names if c not in CHECKS]
    if unknown:
        raise ConfigurationError(
            f"unknown text check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}", "TEXT_CHECK_UNKNOWN"
        )
    return names


@dataclass(frozen=True)
class TextFilter:
    """What a stream reports: readings matching one of ``patterns`` or passing one of ``checks``; all when
    both are empty."""

    patterns: tuple[re.Pattern[str], ...] = ()
    checks: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[str] = (), checks: Iterable[str] = ()) -> TextFilter:
        return cls(compile_patterns(patterns), check_names(checks))

    def __bool__(self) -> bool:
        return bool(self.patterns or self.checks)

    def accepts(self, text: str) -> bool:
        if not self:
            return True
        text = text.strip()
        if not text:
            return False
        spaceless = "".join(text.split())
        if any(p.fullmatch(text) or p.fullmatch(spaceless) for p in self.patterns):
            return True
        return any(CHECKS[name](text) for name in self.checks)
