"""The fields file: validated at start, one line per mistake with a stable reason."""

from __future__ import annotations

import re

import pytest

from edge_runtime.errors import ConfigurationError
from edge_runtime.fields import check_sets, load_fields_file, parse_fields
from edge_runtime.fields.config import unsafe_pattern

GOOD = """
[sets.shipping]
[[sets.shipping.fields]]
name = "container"
labels = ["container no"]
checks = ["ISO6346"]
kind = "code"
"""


def test_a_good_file(tmp_path):
    path = tmp_path / "fields.toml"
    path.write_text(GOOD)
    sets = load_fields_file(path)
    assert [r.name for r in sets["shipping"].rules] == ["container"]
    assert check_sets(["shipping", "receipt", ""], sets) == ("shipping", "receipt")


def _reasons(data) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        parse_fields(data)
    assert caught.value.reason == "FIELDS_FILE_INVALID"
    return [re.search(r"\[([A-Z_]+)\]$", ln).group(1) for ln in caught.value.message.splitlines()]


def test_every_mistake_is_one_line():
    reasons = _reasons(
        {
            "other": 1,
            "sets": {
                "receipt": {"fields": [{"name": "x", "labels": ["x"]}]},
                "ship": {
                    "fields": [
                        {"name": "a", "patterns": ["(a+)+$", "["], "checks": ["LUHN"], "position": "up", "colour": 1},
                        {"labels": ["x"]},
                        {"name": "b"},
                    ]
                },
            },
        }
    )
    assert sorted(reasons) == sorted(
        [
            "FIELDS_KEY_UNKNOWN",
            "FIELDS_SET_NAME",
            "FIELD_PATTERN_UNSAFE",
            "TEXT_PATTERN_INVALID",
            "TEXT_CHECK_UNKNOWN",
            "FIELD_VALUE_INVALID",
            "FIELDS_KEY_UNKNOWN",
            "FIELD_NAME_INVALID",
            "FIELD_RULE_EMPTY",
        ]
    )


def test_unreadable_and_not_toml(tmp_path):
    with pytest.raises(ConfigurationError, match=r"FIELDS_FILE_UNREADABLE"):
        load_fields_file(tmp_path / "absent.toml")
    (tmp_path / "bad.toml").write_text("[sets\n")
    with pytest.raises(ConfigurationError, match=r"FIELDS_FILE_SYNTAX"):
        load_fields_file(tmp_path / "bad.toml")


def test_an_unknown_set_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        check_sets(["shipping"], {})
    assert caught.value.reason == "FIELD_SET_UNKNOWN"


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w*)*x", r"(a|aa)+b", r"(?:\d+\s?)+$", r"(x{1,9}){2,}"])
def test_catastrophic_patterns_are_refused(pattern):
    assert unsafe_pattern(pattern)
    assert _reasons({"sets": {"s": {"fields": [{"name": "a", "patterns": [pattern]}]}}}) == ["FIELD_PATTERN_UNSAFE"]


@pytest.mark.parametrize("pattern", [r"[A-Z]{4}\d{7}", r"INV-\d+", r"(?:RM|\$)\s?\d+\.\d{2}", r"\d{2}/\d{2}/\d{4}"])
def test_plain_patterns_pass(pattern):
    assert not unsafe_pattern(pattern)
    assert parse_fields({"sets": {"s": {"fields": [{"name": "a", "patterns": [pattern]}]}}})["s"].rules[0].patterns
