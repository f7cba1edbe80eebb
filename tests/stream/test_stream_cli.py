"""`python -m edge_runtime stream`: JSON-line events in-process; --server reports a missing server cleanly."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from edge_runtime.cli import main as edge_main
from edge_runtime.stream.cli import _print_result, build_parser, stream_settings
from edge_runtime.stream.fields import EventFields
from edge_runtime.stream.flow import FlowMode
from edge_runtime.stream.types import EventType, FrameResult, TrackEvent

REPO = Path(__file__).resolve().parents[2]


def test_events_are_printed_once_as_json_lines(clips, capsys, camera_env):
    scene, path = clips["appear"]
    assert edge_main(["stream", "--source", str(path), "--show-fps"]) == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    events = [(r["event"], r["text"]) for r in records]
    for text in scene.texts:
        assert events.count(("APPEARED", text)) == events.count(("DISAPPEARED", text)) == 1
    assert all(
        {"track_id", "confidence", "polygon", "sequence", "capture_time", "latency_ms", "candidates"} <= r.keys()
        for r in records
    )
    assert "fps" in err
    # fields shared with ocr.v1 are spelled as its proto3 JSON mapping spells them
    from clients.ocr_client.pb import ocr_pb2

    candidate = records[0]["candidates"][0]
    assert set(candidate) == set(ocr_pb2.TextCandidate.DESCRIPTOR.fields_by_name)
    assert candidate["text"] == records[0]["text"] and candidate["accepted"] is True and candidate["frames"] >= 2


def test_per_frame_records(clips, capsys, camera_env):
    scene, path = clips["static"]
    assert edge_main(["stream", "--source", str(path), "--frames", "--max-frames", "5"]) == 0
    frames = [r for r in map(json.loads, capsys.readouterr().out.splitlines()) if "frame" in r]
    assert [r["frame"] for r in frames] == [0, 1, 2, 3, 4]
    assert [r["skipped"] for r in frames] == [False, True, True, True, True]
    assert {line["text"] for line in frames[-1]["lines"]} == scene.texts


def test_settings_precedence(monkeypatch):
    monkeypatch.setenv("OCR_STREAM_STABLE_AFTER", "9")
    parse = build_parser().parse_args
    settings = stream_settings(parse(["--source", "clip.mp4", "--set", "disappear_after=4"]))
    assert (settings.mode, settings.stable_after, settings.disappear_after) == (FlowMode.ALL, 9, 4)
    assert stream_settings(parse(["--source", "rtsp://cam/1"])).mode is FlowMode.LATEST_ONLY
    assert stream_settings(parse(["--source", "clip.mp4", "--realtime"])).mode is FlowMode.LATEST_ONLY
    settings = stream_settings(parse(["--source", "0", "--mode", "queue", "--queue-size", "3"]))
    assert (settings.mode, settings.queue_size) == (FlowMode.QUEUE, 3)


def test_text_patterns_and_checks_from_flags_reach_the_stream_config():
    from clients.ocr_client.client import stream_config as client_config
    from edge_runtime.stream.cli import stream_config

    parse = build_parser().parse_args
    settings = stream_settings(
        parse(
            ["--source", "clip.mp4", "--set", "text_patterns=[A-Z]{2} ?[0-9]{4}", "--set", "text_checks=iso6346,iban"]
        )
    )
    assert settings.text_patterns == ("[A-Z]{2} ?[0-9]{4}",) and settings.text_checks == ("ISO6346", "IBAN")
    config = client_config(stream_config(settings))  # the JSON form parses as ocr.v1.StreamConfig
    assert list(config.text_patterns) == ["[A-Z]{2} ?[0-9]{4}"]
    assert list(config.text_checks) == [1, 2]  # TEXT_CHECK_ISO6346, TEXT_CHECK_IBAN


def test_bad_settings_and_sources_exit_nonzero(tmp_path, capsys):
    assert edge_main(["stream", "--source", "x.mp4", "--set", "no_such=1"]) == 2
    assert edge_main(["stream", "--source", "x.mp4", "--set", "min_hits=0"]) == 2
    assert edge_main(["stream", "--source", "x.mp4", "--set", "text_patterns=[A-Z"]) == 2
    assert "TEXT_PATTERN_INVALID" in capsys.readouterr().err
    assert edge_main(["stream", "--source", str(tmp_path / "missing.avi")]) == 1
    assert "SOURCE_UNAVAILABLE" in capsys.readouterr().err


def test_an_events_line_carries_its_fields_as_ocr_v1_names_them():
    box = ((0.0, 0.0), (90.0, 0.0), (90.0, 20.0), (0.0, 20.0))
    events = EventFields(("receipt",))((TrackEvent(EventType.STABLE, 4, "TOTAL 12.50", 0.5, box, 9),))
    out = io.StringIO()
    _print_result(FrameResult(9, 0.0, events=events), False, out)
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["fields"] == [
        {"name": "total", "value": "12.50", "text": "12.50", "confidence": 0.5, "field_set": "receipt"}
    ]
    out = io.StringIO()
    plain = TrackEvent(EventType.STABLE, 4, "TOTAL 12.50", 0.5, box, 9)
    _print_result(FrameResult(9, 0.0, events=(plain,)), False, out)
    assert "fields" not in json.loads(out.getvalue())  # a stream without sets prints no key


def test_field_sets_the_stream_cannot_use_exit_before_the_source_opens(tmp_path, capsys):
    missing = str(tmp_path / "missing.avi")  # never opened: the refusal comes first
    for flags, reason in [
        (["--fields", "form"], "FIELD_SET_UNSUPPORTED"),
        (["--fields", "shipping"], "FIELD_SET_UNKNOWN"),
        (["--fields", "receipt", "--fields-file", str(tmp_path / "none.toml")], "FIELDS_FILE_INVALID"),
        (
            ["--fields", "receipt", "--fields-file", str(tmp_path / "f.toml"), "--server", "127.0.0.1:9"],
            "FIELDS_FILE_LOCAL_ONLY",
        ),
    ]:
        assert edge_main(["stream", "--source", missing, *flags]) == 2
        assert f"[{reason}]" in capsys.readouterr().err


def test_server_mode_without_a_server(clips, capsys):
    _, path = clips["static"]
    code = edge_main(["stream", "--source", str(path), "--server", "127.0.0.1:9", "--max-frames", "2"])
    assert code == 1 and "UNAVAILABLE" in capsys.readouterr().err


def test_in_process_path_never_imports_grpc():
    code = (
        "import sys, edge_runtime.stream, edge_runtime.stream.cli, edge_runtime.stream.sources; "
        "sys.exit(any(m == 'grpc' or m.startswith(('grpc.', 'server')) for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
