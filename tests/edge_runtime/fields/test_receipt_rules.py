"""Receipt rules on hand-laid lines: the header's bounds, the address's pieces, the total among its look-alikes."""

from __future__ import annotations

from edge_runtime.fields import extract
from edge_runtime.types import TextLine


def line(text: str, x: float, y: float, w: float = 300, h: float = 20) -> TextLine:
    return TextLine(text, 0.9, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


def fields(lines: list[TextLine]) -> dict[str, str]:
    return {f.name: f.text for f in extract(lines, ["receipt"]).fields}


def test_a_tax_invoice_title_over_the_name_does_not_end_the_header():
    found = fields(
        [
            line("SIMPLIFIED TAX INVOICE", 40, 0),
            line("AA PHARMACY", 40, 25),
            line("SUBANG HEALTHCARE SDN", 40, 50, 250),
            line("BHD", 300, 50, 40),
            line("1118258-K", 40, 75, 100),
            line("GST NO: 001536708608", 40, 100),
            line("B-8, JALAN SS15/4D,", 40, 125),
            line("47500 SUBANG JAYA, SELANGOR", 40, 150),
            line("TEL:03-56127718", 40, 175),
        ]
    )
    assert found["company"] == "SUBANG HEALTHCARE SDN BHD"
    assert found["address"] == "B-8, JALAN SS15/4D, 47500 SUBANG JAYA, SELANGOR"


def test_a_name_with_its_own_dot_com():
    found = fields(
        [
            line("eCosway.com SDN BHD (509213A)", 40, 0),
            line("2nd Floor, Wisma Cosway, Jalan Raja Chulan,", 40, 25),
            line("50200 Kuala Lumpur, Malaysia.", 40, 50),
            line("Tel:603-2030 1000", 40, 75),
        ]
    )
    assert found["company"] == "eCosway.com SDN BHD"
    assert found["address"] == "2nd Floor, Wisma Cosway, Jalan Raja Chulan, 50200 Kuala Lumpur, Malaysia."


def test_a_labelled_company_number_and_a_bare_phone_number_bound_the_address():
    found = fields(
        [
            line("POPULAR STATIONERY SDN BHD", 40, 0),
            line("(Company No. 113825-W)", 40, 25),
            line("No 8, Jalan Besar,", 40, 50),
            line("Desa Tun Razak 56000 Kuala", 40, 75),
            line("03-6057 1377", 40, 100),
        ]
    )
    assert found["address"] == "No 8, Jalan Besar, Desa Tun Razak 56000 Kuala"


def test_the_sdn_bhd_abbreviation_misread_is_put_right():
    assert fields([line("99 SPEED MART S/0 (519537-X)", 40, 0)])["company"] == "99 SPEED MART S/B"
    assert fields([line("99 SPEED MART 5/8", 40, 0)])["company"] == "99 SPEED MART S/B"


def test_an_address_label_is_cut_off_and_starts_the_address():
    found = fields(
        [
            line("HAI-O RAYA BHD (169199-V)", 40, 0),
            line("KEPONG OUTLET", 80, 25),
            line("TEL / FAX : 03-62636977", 40, 50),
            line("HQ ADD: LOT 11995, BATU 2, JALAN KAPAR", 40, 75),
            line("41400 KLANG, SELANGOR", 40, 100),
            line("DATE: 15/12/2016", 40, 130),
        ]
    )
    assert found["address"] == "LOT 11995, BATU 2, JALAN KAPAR 41400 KLANG, SELANGOR"


def test_a_point_between_address_parts_is_a_comma_but_not_in_abbreviations():
    found = fields(
        [
            line("AIK HUAT HARDWARE SDN BHD", 40, 0),
            line("LOT P.T. 17, JALAN 9/2. SETIA ALAM.", 40, 25),
            line("SEKSYEN U13, 40170 SHAH ALAM, SELANGOR D.E.", 40, 50),
        ]
    )
    assert found["address"] == "LOT P.T. 17, JALAN 9/2, SETIA ALAM, SEKSYEN U13, 40170 SHAH ALAM, SELANGOR D.E."


def test_the_tax_tables_total_row_and_a_parenthesised_note_are_not_the_total():
    found = fields(
        [
            line("SHOP ENTERPRISE", 40, 0),
            line("Total Sales Incl GST", 40, 100, 200),
            line("46.54", 400, 100, 60),
            line("CASH", 40, 125, 60),
            line("50.00", 400, 125, 60),
            line("(Total included GST @6%: 2.64)", 40, 150),
            line("GST Summary", 40, 175, 150),
            line("Amount", 250, 175, 80),
            line("Tax", 400, 175, 60),
            line("Total", 40, 200, 60),
            line("43.90", 250, 200, 60),
            line("2.64", 400, 200, 60),
        ]
    )
    assert found["total"] == "46.54"


def test_the_total_after_rounding_wins_over_a_misread_adjustment():
    found = fields(
        [
            line("SHOP ENTERPRISE", 40, 0),
            line("Total Sales Incl GST", 40, 100, 200),
            line("46.54", 400, 100, 60),
            line("Rounding Adj", 40, 125, 150),
            line("6.01", 400, 125, 60),  # 0.01 misread: not a total
            line("Total After Adj Incl GST", 40, 150, 250),
            line("46.55", 400, 150, 60),
        ]
    )
    assert found["total"] == "46.55"


def test_an_amount_cut_at_its_point_is_joined_and_a_tilde_in_a_date_is_a_dash():
    found = fields(
        [
            line("SHOP ENTERPRISE", 40, 0),
            line("05:03PM", 40, 50, 100),
            line("02~05-18", 400, 50, 100),
            line("SUB-TOTAL", 200, 100, 120),
            line("6.60", 400, 100, 60),
            line("TOTAL", 40, 125, 80),
            line("7", 380, 125, 15),
            line("00", 410, 125, 25),
        ]
    )
    assert (found["total"], found["date"]) == ("7.00", "02-05-18")


def test_a_legal_name_under_the_postcode_is_not_the_state_and_a_bracket_gets_its_space():
    found = fields(
        [
            line("AIK HUAT HARDWARE ENTERPRISE(SETIA ALAM) SDN BHD", 40, 0, 400),
            line("LOT PTD 101051", 40, 25),
            line("81750 Masai, Johor", 40, 50),
            line("Esjay Fuel Enterprise", 40, 75),
            line("CO. REG. NO: 001011128-T", 40, 100),
        ]
    )
    assert found["company"] == "AIK HUAT HARDWARE ENTERPRISE (SETIA ALAM) SDN BHD"
    assert found["address"] == "LOT PTD 101051 81750 Masai, Johor"


def test_the_amount_paid_including_tax_outranks_a_points_total():
    found = fields(
        [
            line("ECOSWAY SDN BHD", 40, 0),
            line("AMT PAID IncI. GST: RM78.30", 40, 100),
            line("Amt Paid excl. GST :RM 73.87", 40, 125),
            line("Total eV:2.10", 40, 150),
        ]
    )
    assert found["total"] == "78.30"
