"""bench.latency's pure parts: variant parsing and the table's ratio to the peer."""

from __future__ import annotations

import pytest

from bench.latency import markdown_table, parse_variant


def test_parse_variant_types_the_fields() -> None:
    name, fields = parse_variant("det max 960:det_limit_type=max, det_limit_side_len=960")
    assert name == "det max 960"
    assert fields == {"det_limit_type": "max", "det_limit_side_len": 960}


@pytest.mark.parametrize("text", ["no fields:bogus_field=1", ":det_limit_side_len=960", "x:det_limit_side_len"])
def test_parse_variant_refuses_what_it_cannot_apply(text: str) -> None:
    with pytest.raises(SystemExit):
        parse_variant(text)


def test_table_gives_pages_per_second_over_the_peer() -> None:
    ms = {"det": 1.0, "cls": 1.0, "rec": 1.0, "total": 3.0}
    rows = [{"name": "ours", "median_ms": ms, "pages_per_s": 1.5},
            {"name": "peer", "median_ms": ms, "pages_per_s": 0.5}]
    ratio = lambda line: line.split("|")[7].strip()  # noqa: E731  (the "× peer" column)
    table = markdown_table(rows, peer="peer").splitlines()
    assert table[0].split("|")[7].strip() == "× peer"
    assert [ratio(table[2]), ratio(table[3])] == ["3.00", "1.00"]
    assert ratio(markdown_table(rows).splitlines()[2]) == "–"  # no peer named: no ratio
