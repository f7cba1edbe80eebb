"""Receipt rules, form pairs and users' field sets on lines laid out by hand (no models)."""

from __future__ import annotations

from edge_runtime.fields import extract, parse_fields
from edge_runtime.fields.scoring import field_scores, pair_scores
from edge_runtime.fields.text import MAX_LINES, lines_of
from edge_runtime.types import TextLine


def line(text: str, x: float, y: float, w: float = 300, h: float = 20) -> TextLine:
    return TextLine(text, 0.9, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


RECEIPT = [
    line("A03134", 500, 0, 80),
    line("99 SPEED MART S/B (519537-X)", 100, 30),
    line("LOT P.T. 2811, JALAN ANGSA,", 100, 60),
    line("TAMAN BERKELEY 41150 KLANG, SELANGOR", 100, 90),
    line("TEL: 03-3322 1234", 100, 120),
    line("INV NO: 18385/103/T0148", 20, 160),
    line("21-11-16 10:02PM", 400, 160, 150),
    line("Total Sales (Inclusive GST) RM", 20, 400, 250),
    line("31.80", 400, 400, 60),
    line("CASH", 20, 430, 60),
    line("50.00", 400, 430, 60),
    line("CHANGE", 20, 460, 80),
    line("18.20", 400, 460, 60),
]


def test_receipt_fields_by_hand():
    found = {f.name: f for f in extract(RECEIPT, ["receipt"]).fields}
    assert found["company"].text == "99 SPEED MART S/B"  # the registration number is not the name
    assert found["address"].text == "LOT P.T. 2811, JALAN ANGSA, TAMAN BERKELEY 41150 KLANG, SELANGOR"
    assert (found["date"].text, found["date"].value) == ("21-11-16", "2016-11-21")
    assert (found["total"].value, found["currency"].value) == ("31.80", "MYR")
    assert found["invoice_number"].value == "18385/103/T0148"
    truth = {
        "company": "99 SPEED MART S/B",
        "date": "21-11-16",
        "total": "RM 31.80",
        "address": "LOT P.T. 2811, JALAN ANGSA, TAMAN BERKELEY 41150 KLANG, SELANGOR",
    }
    assert field_scores([{k: f.text for k, f in found.items()}], [truth]).f1 == 1.0


def test_no_set_asked_costs_nothing():
    assert not extract(RECEIPT, [])
    assert not extract([], ["receipt", "form"])


def test_form_pairs_same_line_right_and_below():
    lines = [
        line("Date: 3/15/88", 20, 0, 200),
        line("Brand", 20, 40, 80),
        line("PHOENIX", 400, 40, 100),
        line("Remarks:", 20, 80, 100),
        line("SHIP BY TRUCK", 20, 110, 200),
    ]
    pairs = [(kv.key.text, kv.value.text) for kv in extract(lines, ["form"]).key_values]
    truth = [("Date:", "3/15/88"), ("Brand", "PHOENIX"), ("Remarks:", "SHIP BY TRUCK")]
    assert pair_scores([pairs], [truth]).f1 == 1.0


def test_user_fields_labels_patterns_checks():
    sets = parse_fields(
        {
            "sets": {
                "shipping": {
                    "fields": [
                        {"name": "container", "checks": ["ISO6346"], "kind": "code"},
                        {"name": "iban", "labels": ["IBAN"], "checks": ["IBAN"], "kind": "code"},
                        {"name": "due", "labels": ["due date", "payable by"], "kind": "date", "position": "right"},
                        {"name": "po", "labels": ["PO"], "patterns": [r"\d{6}"], "position": "below"},
                    ]
                }
            }
        }
    )
    lines = [
        line("Container CSQU 305438 3 loaded", 0, 0),  # the check digit found inside the line
        line("Container CSQU 305438 4 refused", 0, 30),
        line("IBAN: GB82 WEST 1234 5698 7654 32", 0, 60),
        line("Payable by", 0, 90, 100),
        line("15/03/2024", 300, 90, 100),
        line("PO", 0, 120, 40),
        line("123456", 0, 145, 80),
    ]
    found = {f.name: f for f in extract(lines, ["shipping"], sets).fields}
    assert found["container"].value == "CSQU3054383" and found["container"].field_set == "shipping"
    assert found["iban"].value == "GB82WEST12345698765432"
    assert (found["due"].value, found["due"].text) == ("2024-03-15", "15/03/2024")
    assert found["po"].value == "123456"


def test_five_thousand_tiny_boxes_are_bounded():
    boxes = [line("1", (i % 100) * 3, (i // 100) * 3, 2, 2) for i in range(5000)]
    assert len(lines_of(boxes)) == MAX_LINES
    found = extract(boxes, ["receipt", "form"])  # the rules see at most MAX_LINES lines, each capped
    assert len(found.key_values) <= MAX_LINES
