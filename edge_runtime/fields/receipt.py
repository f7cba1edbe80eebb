"""Receipt and invoice fields out of the box: company, address, date, total, tax, currency, invoice_number.

Rules on the page's printed rows, tuned on kie_sroie_train (docs/fields.md): the company is the first name-like
line of the header (a line saying SDN BHD, TRADING, ... wins), the address the lines under it up to the first
phone, tax-number or document line, the date the first date near a "date" label (else the first date), the total
the amount on the row of the strongest total label (an including-tax or rounded total before a plain one, never
a subtotal or a quantity).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from edge_runtime.fields.model import Field
from edge_runtime.fields.normalise import AMOUNT_RE, currency_of, decimal_amount, find_date, iso_date
from edge_runtime.fields.text import Line, rows_of

__all__ = ["receipt_fields", "SET_NAME"]

SET_NAME = "receipt"
HEADER_LINES = 12  # the company and its address are printed within the first lines
_COMPANY_WORDS = re.compile(
    r"\b(SDN\.?\s*BHD|SDN|BHD|S/B|BERHAD|ENTERPRISE|TRADING|RESTORAN|RESTAURANT|HARDWARE|STATIONERY|MART|MARKET|"
    r"SUPERMARKET|STORE|SHOP|CAFE|KEDAI|PERNIAGAAN|SYARIKAT|LTD|LIMITED|INC|LLC|GMBH|CO\.|COMPANY|PLT|BAKERY|"
    r"BOOKSTORE|PHARMACY|FARMASI|TRADERS?|INDUSTRIES|HOLDINGS|GROUP|ELECTRICAL|MACHINERY|FOOD|NASI|KITCHEN)\b",
    re.I,
)
_STRONG = re.compile(r"\b(SDN\.?\s*BHD|SDN|BHD|S/B|BERHAD|PLT|LTD|LIMITED|ENTERPRISE|TRADING)\b|SDN\.?BHD", re.I)
_CONTINUED = re.compile(r"\W*(?:CO\b|ENTERPRISE|TRADING|[A-Z]+\)|\(|&|[A-Z]+ (?:SDN|BHD))", re.I)  # a name's 2nd line
_COMPANY_NO = re.compile(r"\s*\(?\bCO(?:MPANY|NPANY)?\.?\s*(?:REG\.?\s*)?NO\b.*$", re.I)
_NOT_STRONG = re.compile(r"TAX\s*INVOICE|RECEIPT|\bTEL\b|\bFAX\b|OWNED|\w:\s", re.I)
_TRAILING_REG = re.compile(r"\s*\(?\s*(?:CO\.?\s*(?:REG\.?\s*)?NO\.?\s*:?\s*)?\d{5,}[\s-]*[A-Z]?\b\)?.*$", re.I)
_NOT_NAME = re.compile(
    r"TAX\s*INVOICE|INVOICE|RECEIPT|^\W*\(?\s*(?:CO\.?\s*)?(?:REG|ROC|GST|SST|COMPANY)\b|WELCOME|^\W*\(?[\dA-Z]*\d[\dA-Z-]*\)?\W*$"
    r"|TEL\b|FAX|PHONE|H/P|EMAIL|@|WWW\.|\.COM|CASHIER|DATE|TIME|\w:\s",
    re.I,
)
_ADDRESS_STOP = re.compile(
    r"\bTEL\b|\bTEL[.:]|TELEPHONE|\bFAX\b|\bPHONE\b|\bH/P\b|\bHP\s*[:.]|EMAIL|E-MAIL|WWW\.|\.COM\b|GST|SST|\bREG\b|"
    r"TAX\s*INVOICE|INVOICE|RECEIPT|CASHIER|\bDATE\b|\bTIME\b|\bBILL\b|\bTABLE\b|\bDOC\b|CO\.?\s*NO|\bROC\b|"
    r"SIMPLIFIED|OPEN\s+DAILY|BUSINESS\s+HOURS",
    re.I,
)
_REG_NO = re.compile(r"^\W*\(?\s*(?:CO\.?\s*(?:REG\.?\s*)?NO\.?\s*:?\s*)?[\dA-Z]*\d{4,}[\dA-Z-]*\s*\)?\W*$", re.I)
# a company number on its own line, with or without its label: "(Company No. 113825-W)", "CO-REG:360671-D"
_REG_LINE = re.compile(r"^[^\d]{0,20}\d{5,12}\s?-\s?[A-Z]\W*$", re.I)
_PHONE_LINE = re.compile(r"^\W*\+?\(?\d{2,4}\)?[- ]?\d{3,4}[- ]?\d{3,4}\b")  # a bare phone number: 03-6057 1377
_ADDRESS_LABEL = re.compile(r"^\W*(?:[A-Z]{1,4}\s*)?(?:ADD|ADDR|ADDRESS|ALAMAT)\s*[:.]\s*(?=\S)", re.I)
_ADDRESS_HINT = re.compile(
    r"\b(JALAN|JLN|TAMAN|TMN|LOT|NO\.?|LORONG|PERSIARAN|KAWASAN|BANDAR|SEKSYEN|BLOCK|BLK|LEVEL|FLOOR|ROAD|STREET|"
    r"AVENUE|SELANGOR|JOHOR|KUALA|LUMPUR|PULAU|PINANG|PENANG|PERAK|KEDAH|MELAKA|PAHANG|SABAH|SARAWAK|NEGERI|"
    r"PUTRAJAYA|CHERAS|KLANG|PETALING|JAYA|SHAH|ALAM|PUCHONG|KEPONG|SUBANG|AMPANG|BAHRU|SRI|INDUSTRI|PERINDUSTRIAN)\b"
    r"|\d{5}|,",
    re.I,
)
_BRANCH = re.compile(r"\d{3,4}-[A-Z][A-Z ]{2,30}$")
_POSTCODE = re.compile(r"\b\d{5}\b")
_DATE_TILDE = re.compile(r"(?<=\b\d\d)~(?=\d\d-\d\d)")  # 02~05-18: the recognizer's tilde for a dash
_DATE_LABEL = re.compile(r"\bDATE\b|\bDATED\b|\bTARIKH\b|\bDT\b", re.I)
# (label, rank): higher wins; the last line with the best rank is taken (a total printed again after rounding)
_TOTAL_LABELS = (
    (
        re.compile(r"ROUND(?:ED|ING)?\s*(?:ADJ\w*\s*)?TOTAL|TOTAL\s*(?:ROUND|AFTER)|NETT?\s*TOTAL|GRAND\s*TOTAL", re.I),
        4,
    ),
    (re.compile(r"TOTAL\s*(?:AMOUNT|AMT|SALES?)?\s*\(?\s*INCL|TOTAL\s*(?:INCL|INC\b)|INCLUSIVE\s*OF\s*GST", re.I), 4),
    (re.compile(r"\b(?:AMT|AMOUNT)\s*PA[I1]D\s*INC", re.I), 4),  # "AMT PAID INCL. GST: RM78.30"
    (
        re.compile(
            r"TOTAL\s*(?:AMOUNT|AMT|PAYABLE|DUE|RM|\(RM\)|:|$)|AMOUNT\s*DUE|TOTAL\s*\(?\s*RM|^\W*TOTAL\W*$|^\W*DUE\W*$",
            re.I,
        ),
        3,
    ),
    (re.compile(r"\bTOTAL\b", re.I), 2),
    (re.compile(r"\bCASH\b|\bVISA\b|MASTER|\bCARD\b|PAYMENT|TENDER", re.I), 1),
)
_TOTAL_WORD = re.compile(r"\bT[O0A]T[A4][L1I]", re.I)  # OCR's Tota1, Tatal, TOT4L
_SUBTOTAL = re.compile(r"^\W*SUB\s*-?\s*TOTAL\W*(?:RM)?\W*$|^\W*SUB\s*-?\s*TOTAL\W*[\d.,\s]*$", re.I)
_NOT_TOTAL = re.compile(
    r"SUB\s*-?\s*TOTAL|(?:TAX|GST|SST)\s*TOTAL|TOTAL\s*(?:QTY|QUANTITY|ITEM|ITEMS|PCS|UNITS?|DISCOUNT|SAVING|GST|TAX|SST|EXCL|\(EXCL|W/?O)"
    r"|EXCLUDING|EXCL\.|\bQTY\b|CHANGE|BALANCE|ROUNDING\s*ADJ(?!.*TOTAL)|\bROUNDING\b(?!.*TOTAL)",
    re.I,
)
# the tax table printed under the totals ("GST Summary | Amount | Tax", then "Total | 43.90 | 2.64")
_SUMMARY = re.compile(r"SUMMARY|\bTAX\s*CODE\b|GST\s*ANALYSIS|\bCODE\b.*\bAMOUNT\b", re.I)
_TAX_LABEL = re.compile(r"\bGST\b|\bSST\b|\bVAT\b|\bTAX\b|SERVICE\s*TAX", re.I)
_NOT_TAX = re.compile(r"REG|\bNO\b|\bID\b|INVOICE|SUMMARY|INCL|EXCL|@\s*\d|%", re.I)
_INVOICE = re.compile(
    r"(?:INVOICE|INV|RECEIPT|BILL|DOC(?:UMENT)?|CHECK|ORDER|TRANS(?:ACTION)?|SLIP|REF)\s*\.?\s*"
    r"(?:NO\b\.?|NUMBER|NUM\b|#)\s*[:.#]?\s*([A-Z0-9][A-Z0-9/-]{2,})",
    re.I,
)


def receipt_fields(lines: Sequence[Line]) -> list[Field]:
    """The receipt fields found on a page's lines (sorted as ``text.lines_of`` gives them)."""
    if not lines:
        return []
    out: list[Field] = []
    company_at = _company(lines)
    if company_at is not None:
        names = _with_row(lines, _company_lines(lines, company_at))
        text = _without_reg(" ".join(ln.text for ln in names))
        out.append(_field("company", text, text, names))
        address = _address(lines, max(lines.index(ln) for ln in names))
        if address:
            text = _address_text(" ".join(ln.text for ln in address))
            out.append(_field("address", text, text, address))
    rows = rows_of(lines)
    date = _date(rows)
    if date:
        out.append(date)
    total = _total(rows)
    if total:
        out.append(total)
        currency = currency_of(total.text) or _page_currency(lines)
        if currency:
            out.append(Field("currency", currency, currency, total.confidence, (), SET_NAME))
    tax = _tax(rows)
    if tax:
        out.append(tax)
    invoice = _invoice_number(lines)
    if invoice:
        out.append(invoice)
    return out


def _field(name: str, value: str, text: str, lines: Sequence[Line]) -> Field:
    from edge_runtime.document.structure import bbox_of

    confidence = sum(ln.confidence for ln in lines) / len(lines)
    return Field(name, value, text, confidence, bbox_of([ln.polygon for ln in lines]), SET_NAME)


def _name_like(line: Line) -> bool:
    letters = sum(ch.isalpha() for ch in line.text)
    return letters >= 3 and letters >= 0.5 * len(line.text.replace(" ", "")) and not _NOT_NAME.search(line.text)


def _company(lines: Sequence[Line]) -> int | None:
    head = range(min(HEADER_LINES, len(lines)))
    # a legal name printed after the address and phone ("Owned by: ... SDN BHD") is not the shop's name; a
    # "TAX INVOICE" over the name, or the name's own ".com", does not end the header
    first = next((i for i in head if _name_like(lines[i]) or _STRONG.search(lines[i].text)), len(head))
    ends = (
        i
        for i in head[first:]
        if _POSTCODE.search(lines[i].text)
        or (_ADDRESS_STOP.search(lines[i].text) and not (_STRONG.search(lines[i].text) and i == first))
    )
    before = next(ends, len(head))
    strong = [i for i in head[:before] if _STRONG.search(lines[i].text) and not _NOT_STRONG.search(lines[i].text)]
    if strong:
        return strong[0]
    for i in head[:before]:
        if _COMPANY_WORDS.search(lines[i].text) and not _NOT_NAME.search(_without_reg(lines[i].text)):
            return i
    names = [i for i in head if _name_like(lines[i])]
    if not names:
        return None
    tallest = max(lines[i].height for i in names)  # a name is often printed larger than a stray word above it
    for i in names:
        if len(lines[i].text) >= 4 and lines[i].height >= 0.6 * tallest:
            return i
    return names[0]


def _without_reg(text: str) -> str:
    """A company line without the registration number printed after the name (``(519537-X)``), and with OCR's
    usual misreading of the ``S/B`` suffix (``5/B``, ``5/8``) put right."""
    text = _COMPANY_NO.sub("", _TRAILING_REG.sub("", text)).strip()
    text = re.sub(r"(?<=[A-Za-z]{2})\((?=[A-Za-z]{2})", " (", text)  # ENTERPRISE(SETIA ALAM): the space lost
    return re.sub(r"\b(?:5/[B80]|S/[80])\b", "S/B", text)


def _company_lines(lines: Sequence[Line], at: int) -> list[Line]:
    """The company's line with the lines it continues (a name printed on two or three lines), each line with the
    boxes the detector cut from it on its row (``SWC | ENTERPRISE | SDN | BHD``)."""
    out = [lines[at]]
    i = at
    while (
        i + 1 < len(lines)
        and len(out) < 3
        and _continues(out[-1], lines[i + 1])
        and (
            out[-1].text.count("(") > out[-1].text.count(")")
            or (_STRONG.search(lines[i + 1].text) and not _STRONG.search(out[-1].text))
        )
    ):
        i += 1
        out.append(lines[i])
    i = at
    while (
        i > 0
        and len(out) < 3
        and _continues(lines[i - 1], out[0])
        and _name_like(lines[i - 1])
        and (not _STRONG.search(lines[i - 1].text))
        and _CONTINUED.match(out[0].text)
    ):
        i -= 1
        out.insert(0, lines[i])
    return out


def _with_row(lines: Sequence[Line], names: list[Line]) -> list[Line]:
    """``names`` with the other boxes of their rows, each row left to right, rows top to bottom."""
    out: list[Line] = []
    for name in names:
        row = [
            ln
            for ln in lines[: HEADER_LINES + 4]
            if ln is name or (name.same_row(ln) and ln not in names and 0.7 < ln.height / name.height < 1.4)
        ]
        out.extend(ln for ln in sorted(row, key=lambda ln: ln.x0) if ln not in out)
    return out


def _continues(upper: Line, lower: Line) -> bool:
    """``lower`` is printed right under ``upper`` in the same size, as the next line of one name."""
    gap = lower.y0 - upper.y1
    similar = 0.6 < lower.height / upper.height < 1.6
    overlap = min(upper.x1, lower.x1) - max(upper.x0, lower.x0)
    return similar and gap < 0.8 * max(upper.height, lower.height) and overlap > 0


def _address(lines: Sequence[Line], company_at: int) -> list[Line]:
    """The address lines under the company: from the first line that reads as an address (or says "ADDRESS:",
    the label cut off) to the postcode, state or country line, before any phone, tax-number or document line."""
    out: list[Line] = []
    window = lines[company_at + 1 : company_at + 1 + 8]
    labelled = next((k for k, ln in enumerate(window) if _ADDRESS_LABEL.match(ln.text)), 0)
    for line in window[labelled:]:
        label = _ADDRESS_LABEL.match(line.text)
        if label and not out:
            out.append(replace(line, text=line.text[label.end() :]))
            continue
        if _ADDRESS_STOP.search(line.text) or find_date(line.text) or _PHONE_LINE.match(line.text):
            if out:
                break
            continue  # a date or a tax number printed between the name and the address
        reg = _REG_NO.match(line.text) or _REG_LINE.match(line.text)
        if not out and (reg or not _ADDRESS_HINT.search(line.text)):
            continue  # a registration number or a second name line between the company and its address
        if reg:
            break
        out.append(line)
        if re.search(r"MALAYSIA\W*$", line.text, re.I):
            break
        if _POSTCODE.search(line.text) and len(out) >= 1 and not line.text.rstrip().endswith(","):
            # the postcode line closes the address unless the state or a branch ("1249-TMN PANDAN") follows
            nxt = lines[lines.index(line) + 1] if lines.index(line) + 1 < len(lines) else None
            if nxt is not None and _BRANCH.match(nxt.text):
                out.append(nxt)
                break
            if (
                nxt is None
                or not re.fullmatch(r"[A-Za-z .,]{3,45}", nxt.text)
                or _ADDRESS_STOP.search(nxt.text)
                or _COMPANY_WORDS.search(nxt.text)  # the legal name printed under the address
            ):
                break
    return out


def _address_text(text: str) -> str:
    """The address with the recognizer's point-for-comma between its parts put right: a point after a word of
    four letters or more, or after a number, followed by more address (``SETIA ALAM. SEKSYEN U13``)."""
    return re.sub(r"(?<=[A-Z]{4})\.(?=\s*[A-Z0-9])|(?<=\d)\.(?=\s+[A-Z])", ",", text, flags=re.I)


def _date(rows: Sequence[Sequence[Line]]) -> Field | None:
    first: Field | None = None
    for row in rows:
        labelled = any(_DATE_LABEL.search(ln.text) for ln in row)
        for line in row:
            m = find_date(_DATE_TILDE.sub("-", line.text))
            if m and iso_date(m.group(0)):
                found = _field("date", iso_date(m.group(0)), m.group(0).strip(" ,"), [line])
                if labelled:
                    return found
                first = first or found
    return first


def _amount_right(row: Sequence[Line], label: Line) -> tuple[str, Line] | None:
    """The rightmost amount on the row right of the label (the first one when another label stands between:
    two label/value columns read as one row), or the last one on the label's own line after it."""
    right = [ln for ln in row if ln.x0 > label.x0 and ln is not label]
    amounts = [(a, ln) for ln in right for a in AMOUNT_RE.findall(ln.text)]
    if amounts:
        between = any(sum(ch.isalpha() for ch in ln.text) >= 3 and not AMOUNT_RE.search(ln.text) for ln in right)
        return amounts[0] if between else amounts[-1]
    split = _split_amount(right)
    if split is not None:
        return split
    word = re.search(r"\bTOTAL\b|\bCASH\b|\w+", label.text, re.I)
    after = label.text[word.end() :] if word else ""
    found = AMOUNT_RE.findall(after)
    if found:
        return found[-1], label
    return None


def _split_amount(boxes: Sequence[Line]) -> tuple[str, Line] | None:
    """An amount the detector cut at its decimal point into two boxes side by side (``7`` | ``00``), joined."""
    for left, right in zip(boxes, boxes[1:], strict=False):
        whole, cents = re.fullmatch(r"\d{1,6}", left.text), re.fullmatch(r"[-.,]?(\d{2})", right.text)
        if whole and cents and 0 <= right.x0 - left.x1 < 2 * left.height and left.same_row(right):
            return f"{whole.group(0)}.{cents.group(1)}", right
    return None


def _total(rows: Sequence[Sequence[Line]]) -> Field | None:
    best: tuple[float, int, str, Line, Line] | None = None
    for r, row in enumerate(rows):
        if best is not None and any(_SUMMARY.search(ln.text) for ln in row):
            break  # the tax table's "Total" row is the tax's, not the receipt's
        for line in row:
            text = _TOTAL_WORD.sub("TOTAL", line.text)
            if text.lstrip().startswith("("):
                continue  # a note: "(Total included GST @ 6%: 1.42)"
            if _SUBTOTAL.search(text):
                rank = 1.5  # below any total, above the cash handed over
            elif _NOT_TOTAL.search(text):
                continue
            else:
                rank = next((rank for pattern, rank in _TOTAL_LABELS if pattern.search(text)), 0)
            if not rank:
                continue
            amount = _amount_right(row, line)
            if amount is None and r + 1 < len(rows):  # the amount printed under its label
                amount = _amount_right(rows[r + 1], rows[r + 1][0]) if AMOUNT_RE.search(rows[r + 1][-1].text) else None
            if amount is None or float(amount[0].replace(",", "")) <= 0:
                continue
            if best is None or rank >= best[0]:
                best = (rank, r, amount[0], line, amount[1])
    if best is None:
        amounts = [(float(a.replace(",", "")), a, ln) for row in rows for ln in row for a in AMOUNT_RE.findall(ln.text)]
        if not amounts:
            return None
        _, text, line = max(amounts, key=lambda t: t[0])
        return _field("total", decimal_amount(text), text, [line])
    _, r, text, label, line = best
    rounded = _rounded(rows, r)
    if rounded is not None:
        text, label, line = rounded
    return _field("total", decimal_amount(text), text, [label, line] if label is not line else [line])


def _rounded(rows: Sequence[Sequence[Line]], r: int) -> tuple[str, Line, Line] | None:
    """The total after a rounding line under the chosen one: the amount of the next total label within two rows,
    else the rounding row's own amount when it is no small adjustment."""
    for k in range(r + 1, min(r + 4, len(rows))):
        row = rows[k]
        if not any(re.search(r"ROUND", ln.text, re.I) for ln in row):
            continue
        for after in rows[k + 1 : k + 3]:
            head = _TOTAL_WORD.sub("TOTAL", after[0].text)
            if re.search(r"\bTOTAL\b", head, re.I) and not _NOT_TOTAL.search(head):
                found = _amount_right(after, after[0])
                if found:
                    return found[0], after[0], found[1]
        amounts = [(a, ln) for ln in row for a in AMOUNT_RE.findall(ln.text)]
        if amounts and abs(float(amounts[-1][0].replace(",", ""))) >= 1.0:
            return amounts[-1][0], row[0], amounts[-1][1]
        return None
    return None


def _tax(rows: Sequence[Sequence[Line]]) -> Field | None:
    for row in rows:
        for line in row:
            if (
                _TAX_LABEL.search(line.text)
                and not _NOT_TAX.search(line.text)
                and not _NOT_TOTAL.search(line.text.replace("TOTAL", ""))
            ):
                amount = _amount_right(row, line)
                if amount:
                    return _field("tax", decimal_amount(amount[0]), amount[0], [line, amount[1]])
    return None


def _page_currency(lines: Sequence[Line]) -> str:
    for line in lines:
        code = currency_of(line.text)
        if code:
            return code
    return ""


def _invoice_number(lines: Sequence[Line]) -> Field | None:
    for line in lines:
        m = _INVOICE.search(line.text)
        if m and any(ch.isdigit() for ch in m.group(1)):
            return _field("invoice_number", m.group(1), m.group(1), [line])
    return None
