"""Domain checks on stream text: check digits, patterns, a track's reading chosen among passing ones."""

from __future__ import annotations

import pytest

from edge_runtime.errors import ConfigurationError
from edge_runtime.stream import EventType, FlowMode, Frame, StreamSettings, TextFilter, run_stream
from edge_runtime.stream.tracking import Tracker
from edge_runtime.stream.validators import iban_ok, iso6346_ok
from tests.stream.test_stream_tracking import Script, kinds, quad, step

PLATE = r"[A-Z]{2} ?[0-9]{4}"


@pytest.mark.parametrize("code", ["CSQU3054383", "BICU1234565", "CSQU 305438 3", "csqu-305438-3"])
def test_valid_container_codes(code):
    assert iso6346_ok(code)


@pytest.mark.parametrize(
    "code",
    [
        "CSQU3054384",  # wrong check digit
        "CSQU3054833",  # two digits swapped
        "CSQU3O54383",  # letter O for the digit 0
        "CSQX3054383",  # category must be U, J or Z
        "CSQU305438",  # too short
        "",
    ],
)
def test_invalid_container_codes(code):
    assert not iso6346_ok(code)


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 32",
        "DE89370400440532013000",
        "NL91ABNA0417164300",
        "FR1420041010050500013M02606",
        "be71 0961 2345 6769",
    ],
)
def test_valid_ibans(iban):
    assert iban_ok(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 33",
        "GB28 WEST 1234 5698 7654 32",
        "DE89370400440532013001",
        "NL91ABNA041716430",
        "GB82",
        "1234567890123456",
    ],
)
def test_invalid_ibans(iban):
    assert not iban_ok(iban)


def test_patterns_must_match_the_whole_reading():
    plates = TextFilter.of([PLATE])
    assert plates.accepts("KD 4821") and plates.accepts("KD4821") and plates.accepts(" KD 4821 ")
    assert plates.accepts("K D48 21")  # OCR's spacing does not matter
    assert not plates.accepts("KD 48211") and not plates.accepts("PARK KD 4821") and not plates.accepts("")
    either = TextFilter.of([r"\d{4}-\d{2}-\d{2}"], ["IBAN"])  # a date, or an IBAN
    assert either.accepts("2026-12-02") and either.accepts("DE89 3704 0044 0532 0130 00")
    assert not either.accepts("02.12.2026") and not either.accepts("DE89 3704 0044 0532 0130 01")
    assert TextFilter.of().accepts("anything") and not TextFilter.of()


@pytest.mark.parametrize(
    "settings, reason",
    [
        (dict(text_patterns=("[A-Z",)), "TEXT_PATTERN_INVALID"),
        (dict(text_patterns=("",)), "TEXT_PATTERN_INVALID"),
        (dict(text_patterns=("x" * 300,)), "TEXT_PATTERN_INVALID"),
        (dict(text_patterns=tuple(f"a{i}" for i in range(40))), "TEXT_PATTERN_INVALID"),
        (dict(text_checks=("LUHN",)), "TEXT_CHECK_UNKNOWN"),
    ],
)
def test_bad_patterns_and_checks_are_refused(settings, reason):
    with pytest.raises(ConfigurationError) as info:
        StreamSettings(**settings)
    assert info.value.reason == reason


def test_settings_take_patterns_and_checks_from_the_environment():
    from edge_runtime.config import from_env

    s = from_env(
        StreamSettings,
        prefix="OCR_STREAM_",
        environ={"OCR_STREAM_TEXT_PATTERNS": f"{PLATE}\n\\d{{4}}", "OCR_STREAM_TEXT_CHECKS": "iso6346,iban"},
    )
    assert s.text_patterns == (PLATE, r"\d{4}") and s.text_checks == ("ISO6346", "IBAN")


def test_a_track_is_reported_through_its_valid_reading_with_the_candidates():
    """A container code misread with a wrong check digit in more frames than it is read right: the valid
    reading is the one reported, and the event lists both with their share of the vote."""
    tracker = Tracker(StreamSettings(text_checks=("ISO6346",), reread_every=1, min_hits=2))
    script = Script()
    box = quad(100, 100, 300, 40)
    reads = [
        ("CSQU3054388", 0.95),
        ("CSQU3054388", 0.95),
        ("CSQU3054388", 0.9),
        ("CSQU3054383", 0.8),
        ("CSQU3054383", 0.8),
    ]
    events = []
    for sequence, reading in enumerate(reads):
        found, lines = step(tracker, script, sequence, [box], [reading])
        events += found
        assert all(line.text == "CSQU3054383" for line in lines)  # never the invalid one, even as a line
        if sequence < 3:
            assert found == [] and lines == []  # nothing valid read yet: not reported
    assert kinds(events) == [(EventType.APPEARED, "CSQU3054383")]
    candidates = {c.text: c for c in events[0].candidates}
    assert set(candidates) == {"CSQU3054388", "CSQU3054383"}
    assert candidates["CSQU3054388"].accepted is False and candidates["CSQU3054383"].accepted is True
    assert candidates["CSQU3054388"].frames == 3 and candidates["CSQU3054383"].frames == 1  # as of APPEARED
    assert candidates["CSQU3054388"].score > candidates["CSQU3054383"].score  # more votes, still not chosen
    assert sum(c.score for c in candidates.values()) == pytest.approx(1.0, abs=1e-3)
    assert events[0].candidates[0].text == "CSQU3054388"  # highest score first
    dropped = tracker.finish(len(reads))
    assert kinds(dropped) == [(EventType.DISAPPEARED, "CSQU3054383")]
    assert [(c.text, c.frames) for c in dropped[0].candidates] == [("CSQU3054383", 2), ("CSQU3054388", 3)]


def test_a_plate_is_reported_only_once_it_passes(engine, clips):
    """A plate drives in from the frame's edge past a sign: with a plate pattern only the full plate is
    reported (no partial reading of it as it enters, not the sign)."""
    scene, _ = clips["plate"]
    frames = [Frame(image, i, 0.0) for i, image in enumerate(scene.frames)]
    base = StreamSettings(mode=FlowMode.ALL, edge_hold=0)  # report at once, even next to the frame's edge

    def events(settings):
        return [(e.type, e.text, r.sequence, e) for r in run_stream(engine, iter(frames), settings) for e in r.events]

    unfiltered = events(base)
    assert "CAR PARK" in {text for kind, text, _, _ in unfiltered if kind is EventType.APPEARED}
    filtered = events(base.replace(text_patterns=(PLATE,)))
    appeared = [(text, sequence, e) for kind, text, sequence, e in filtered if kind is EventType.APPEARED]
    assert [text for text, _, _ in appeared] == ["KD 4821"]
    assert {text for _, text, _, _ in filtered} == {"KD 4821"}
    assert all(c.accepted == TextFilter.of([PLATE]).accepts(c.text) for c in appeared[0][2].candidates)
