"""Form pair rules on lines laid out by hand (no models): units, table rows and columns, wrapped values, prose."""

from __future__ import annotations

from edge_runtime.fields.pairs import form_pairs
from edge_runtime.fields.pieces import row_pieces
from edge_runtime.fields.text import lines_of
from edge_runtime.types import TextLine


def line(text: str, x: float, y: float, w: float | None = None, h: float = 20) -> TextLine:
    w = 10 * len(text) if w is None else w
    return TextLine(text, 0.9, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


def pairs(*lines: TextLine) -> list[tuple[str, str]]:
    return [(kv.key.text, kv.value.text) for kv in form_pairs(lines_of(lines))]


def test_a_unit_read_apart_joins_its_number():
    found = pairs(line("Overall Length", 20, 0), line("84", 300, 0), line("mm", 340, 0))
    assert found == [("Overall Length", "84 mm")]
    # a word far from the number is not its unit
    assert row_pieces(lines_of([line("84", 300, 0), line("mm", 500, 0)]))[0][0].text == "84"


def test_a_table_row_label_takes_each_number():
    found = pairs(line("Male", 20, 0), line("2.0", 200, 0), line("(51)", 300, 0), line("31", 400, 0))
    assert found == [("Male", "2.0"), ("Male", "(51)"), ("Male", "31")]
    # a label followed by words takes only the first part, not the next label on its row
    found = pairs(line("Brand", 20, 0), line("PHOENIX", 200, 0), line("Company", 400, 0), line("CYPRUS", 600, 0))
    assert found == [("Brand", "PHOENIX"), ("Company", "CYPRUS")]


def test_a_label_under_a_heading_is_no_value_of_it():
    found = pairs(line("Tipping Paper:", 20, 0), line("Supplier(s)", 20, 24), line("Ecusta", 200, 24))
    assert found == [("Supplier(s)", "Ecusta")]
    assert pairs(line("Remarks:", 20, 0), line("SHIP BY TRUCK", 20, 24)) == [("Remarks:", "SHIP BY TRUCK")]


def test_two_capitalised_parts_without_colon_are_no_pair():
    assert pairs(line("LORILLARD", 20, 0), line("TOBACCO COMPANY", 300, 0)) == []
    assert pairs(line("WITHOUT HEATING", 20, 0), line("WITH HEATING", 300, 0)) == []
    assert pairs(line("Brand", 20, 0), line("PHOENIX", 300, 0)) == [("Brand", "PHOENIX")]
    assert pairs(line("BRAND:", 20, 0), line("PHOENIX", 300, 0)) == [("BRAND:", "PHOENIX")]


def test_column_headers_over_numbers():
    found = pairs(
        line("SCORE", 200, 0),
        line("BASE", 300, 0),
        line("1.0", 205, 40),
        line("(167)", 300, 40),
        line("2.4", 205, 70),
        line("(42)", 300, 70),
    )
    assert {("SCORE", "1.0"), ("SCORE", "2.4"), ("BASE", "(167)"), ("BASE", "(42)")} <= set(found)
    # a label over a number is no header unless its row is made of labels only
    found = pairs(line("Date: 5/2/90", 200, 0, 150), line("1.0", 205, 40))
    assert found == [("Date:", "5/2/90")]


def test_a_value_carried_on_under_it():
    found = pairs(
        line("Address:", 20, 0),
        line("395 OYSTER POINT BLVD", 200, 0),
        line("S. SAN FRANCISCO", 200, 24),
        line("Phone:", 20, 60),
        line("555-0100", 200, 60),
    )
    assert found == [("Address:", "395 OYSTER POINT BLVD S. SAN FRANCISCO"), ("Phone:", "555-0100")]


def test_running_text_is_no_label():
    assert pairs(line("and grind lightly.", 20, 0), line("Add 0.8 ml saline.", 300, 0)) == []
    assert pairs(line("The sample was kept cold.", 20, 0), line("12 days", 400, 0)) == []
    assert pairs(line("Sample Size", 20, 0), line("400", 300, 0)) == [("Sample Size", "400")]
