"""Printed values to normal form: dates to ISO 8601, amounts to decimal strings, currency signs to ISO 4217.

Dates are read day first (``03/04/2018`` is 3 April) unless the first number cannot be a day or a month name
leads; a two-digit year is 19yy from 70, else 20yy. A value that does not parse normalises to "" and the field
keeps its ``text``.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["DATE_RE", "AMOUNT_RE", "find_date", "iso_date", "decimal_amount", "currency_of", "MONTHS"]

MONTHS = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
_MON = r"(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC)[A-Z]{0,6}\.?"
# numeric (12/03/2018, 2018-03-12, 12.03.18), or with a month name (12 MAR 2018, 12-Mar-18, MAR 12, 2018)
DATE_RE = re.compile(
    r"(?<![0-9])(?:"
    r"(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:(?:19|20)\d{2}|\d{2})"
    r"|(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:(?:19|20)\d{2}|\d{2})"
    rf"|(?:0?[1-9]|[12]\d|3[01])[ -/.]?{_MON}[ -/.,]?\s?(?:(?:19|20)\d{{2}}|\d{{2}})"
    rf"|{_MON}\s?(?:0?[1-9]|[12]\d|3[01]),?\s?(?:19|20)\d{{2}}"
    r")(?![0-9])",
    re.IGNORECASE,
)
# 1,234.56 / 1234.56 / 12.5 / 1.234,56 is not read (receipts here use the point)
AMOUNT_RE = re.compile(r"(?<![\d.,])-?\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?(?![\d%])|(?<![\d.,])-?\d+\.\d{2}(?![\d%]|\s?%)")
_GLUED_TIME = re.compile(r"((?:19|20)\d{2})(\d{1,2}:\d{2})")
_CURRENCIES = [
    (re.compile(r"\bRM\b|\bMYR\b", re.I), "MYR"),
    (re.compile(r"€|\bEUR\b", re.I), "EUR"),
    (re.compile(r"£|\bGBP\b", re.I), "GBP"),
    (re.compile(r"\bS\$|\bSGD\b", re.I), "SGD"),
    (re.compile(r"\bUSD\b|US\$", re.I), "USD"),
    (re.compile(r"¥|\bJPY\b", re.I), "JPY"),
    (re.compile(r"\bCHF\b", re.I), "CHF"),
    (re.compile(r"\$"), "USD"),
]


def find_date(text: str) -> re.Match[str] | None:
    """The first date in ``text`` (a time glued to the year, ``18-03-201811:23``, is cut off)."""
    return DATE_RE.search(_GLUED_TIME.sub(r"\1 \2", text))


def iso_date(text: str) -> str:
    """``text``'s first date as YYYY-MM-DD, or ""."""
    m = find_date(text)
    if not m:
        return ""
    s = m.group(0).upper()
    name = re.search(r"[A-Z]{3,}", s)
    nums = [int(n) for n in re.findall(r"\d+", s)]
    try:
        if name:
            month = MONTHS.get(name.group(0)[:3])
            if month is None or len(nums) < 2:
                return ""
            day, year = (nums[0], nums[1]) if s[0].isdigit() else (nums[0], nums[1])
            return _iso(year, month, day)
        a, b, c = nums[:3]
        if a > 31:  # year first
            return _iso(a, b, c)
        if a > 12 or b <= 12:
            return _iso(c, b, a)  # day first
        return _iso(c, a, b)  # month first (12/25/2018)
    except ValueError:
        return ""


def _iso(year: int, month: int, day: int) -> str:
    if year < 100:
        year += 1900 if year >= 70 else 2000
    return date(year, month, day).isoformat()


def decimal_amount(text: str) -> str:
    """``text``'s last amount as a plain decimal with two places (``RM 1,234.5`` -> ``1234.50``), or ""."""
    found = AMOUNT_RE.findall(text)
    if not found:
        bare = re.fullmatch(r"\s*(?:[A-Z]{1,3}\s?|\$\s?)?(-?\d+(?:\.\d)?)\s*", text, re.I)
        if not bare:
            return ""
        found = [bare.group(1)]
    value = found[-1].replace(",", "")
    try:
        return f"{float(value):.2f}"
    except ValueError:
        return ""


def currency_of(text: str) -> str:
    """The ISO 4217 code of the first currency sign or code in ``text``, or ""."""
    for pattern, code in _CURRENCIES:
        if pattern.search(text):
            return code
    return ""
