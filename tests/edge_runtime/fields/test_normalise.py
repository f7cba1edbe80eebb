"""Printed dates, amounts and currencies to their normal form."""

from __future__ import annotations

import pytest

from edge_runtime.fields.normalise import currency_of, decimal_amount, find_date, iso_date


@pytest.mark.parametrize(
    ("printed", "iso"),
    [
        (":21-03-2018 16:08:24", "2018-03-21"),
        ("29 Mar 2018 18:19", "2018-03-29"),
        ("07-02-17", "2017-02-07"),
        ("05-JAN-2017", "2017-01-05"),
        ("Date: 3/15/88", "1988-03-15"),  # the first number cannot be a month: month first
        ("MAR 12, 2018", "2018-03-12"),
        ("2018-01-31", "2018-01-31"),
        ("18-03-201811:23", "2018-03-18"),  # a time glued to the year
        ("31/02/2018", ""),  # no such day
        ("TOTAL 12.50", ""),
    ],
)
def test_dates(printed, iso):
    assert iso_date(printed) == iso


def test_the_printed_date_is_kept_as_printed():
    assert find_date("DATE: 21/03/2018 10:00").group(0) == "21/03/2018"


@pytest.mark.parametrize(
    ("printed", "amount", "currency"),
    [
        ("RM 9.00", "9.00", "MYR"),
        ("$7.10", "7.10", "USD"),
        ("1,234.5", "1234.50", ""),
        ("9", "9.00", ""),
        ("GST 6.00% 47.70", "47.70", ""),
        ("€ 3.20", "3.20", "EUR"),
        ("no amount", "", ""),
    ],
)
def test_amounts_and_currencies(printed, amount, currency):
    assert decimal_amount(printed) == amount
    assert currency_of(printed) == currency
