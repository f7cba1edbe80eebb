"""Key fields on stream events (edge_runtime.stream.fields): the stream's sets applied to an event's line, by the
names RecognizeOptions.fields takes, and the names a stream refuses before any frame."""

from __future__ import annotations

import pytest

from edge_runtime.config import from_env
from edge_runtime.errors import ConfigurationError
from edge_runtime.fields import parse_fields
from edge_runtime.stream.fields import EventFields
from edge_runtime.stream.settings import StreamSettings
from edge_runtime.stream.types import EventType, TrackEvent

BOX = ((10.0, 20.0), (210.0, 20.0), (210.0, 50.0), (10.0, 50.0))
SHIPPING = parse_fields(
    {
        "sets": {
            "shipping": {
                "fields": [
                    {"name": "container", "checks": ["ISO6346"], "kind": "code"},
                    {"name": "seal", "labels": ["seal"], "patterns": [r"\d{6}"]},
                ]
            }
        }
    }
)


def event(text: str, confidence: float = 0.8, kind: EventType = EventType.APPEARED) -> TrackEvent:
    return TrackEvent(kind, 7, text, confidence, BOX, 3)


def fields_of(names: tuple[str, ...], text: str, confidence: float = 0.8) -> dict[str, tuple[str, str, float]]:
    (found,) = EventFields(names, SHIPPING)((event(text, confidence),))
    return {f.name: (f.value, f.field_set, round(f.confidence, 4)) for f in found.fields}


def test_a_deployments_set_finds_codes_by_check_digit_and_values_by_label() -> None:
    assert fields_of(("shipping",), "CSQU 305438 3") == {"container": ("CSQU3054383", "shipping", 0.8)}
    assert fields_of(("shipping",), "CSQU 305438 4") == {}  # wrong check digit
    assert fields_of(("shipping",), "SEAL: 004512", 0.5) == {"seal": ("004512", "shipping", 0.5)}


def test_the_receipt_set_gives_a_lines_values_not_a_pages_header() -> None:
    assert fields_of(("receipt",), "TOTAL 12.50") == {"total": ("12.50", "receipt", 0.8)}
    assert fields_of(("receipt",), "DATE 15/03/2019") == {"date": ("2019-03-15", "receipt", 0.8)}
    assert fields_of(("receipt",), "PHARMACY") == {}  # "company" is a page's first lines: not on one line
    assert fields_of(("receipt", "shipping"), "TOTAL 12.50") == {"total": ("12.50", "receipt", 0.8)}


def test_each_event_keeps_its_own_box_and_confidence_for_a_text_seen_before() -> None:
    fields = EventFields(("shipping",), SHIPPING)
    first, later = fields((event("CSQU3054383", 0.9), event("CSQU3054383", 0.6, EventType.STABLE)))
    assert first.fields[0].confidence == pytest.approx(0.9) and later.fields[0].confidence == pytest.approx(0.6)
    assert first.fields[0].polygon == BOX and later.type is EventType.STABLE
    assert EventFields((), SHIPPING)((event("CSQU3054383"),))[0].fields == ()  # no sets: no fields


@pytest.mark.parametrize(("names", "reason"), [(("form",), "FIELD_SET_UNSUPPORTED"), (("nope",), "FIELD_SET_UNKNOWN")])
def test_a_set_a_stream_cannot_use_is_refused_with_a_reason(names: tuple[str, ...], reason: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        EventFields(names, SHIPPING)
    assert refused.value.reason == reason


def test_settings_take_set_names_from_the_environment() -> None:
    settings = from_env(StreamSettings, prefix="OCR_STREAM_", environ={"OCR_STREAM_FIELDS": "receipt, shipping"})
    assert settings.fields == ("receipt", "shipping") and StreamSettings().fields == ()
