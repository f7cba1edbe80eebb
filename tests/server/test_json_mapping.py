"""The in-process command line prints protobuf's JSON of the very RecognizeResponse the server sends: the
response is built once (edge_runtime.messages) and printed by json_format, so only timings differ run to run."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from clients.ocr_client.pb import ocr_pb2
from edge_runtime import messages, types
from edge_runtime.cli import main as edge_main
from edge_runtime.fields.model import Extraction, Field, KeyValue, Span
from edge_runtime.stages import TIMING_FIELDS
from tests.clients.render import line_png, page_png
from tests.server.images import blank_png

IMAGES = {"page": (page_png(), False), "line": (line_png("HELLO"), True), "blank": (blank_png(), False)}
# a failed item's error; streams' tracks; a MIXED document page's word sources
# Block.table: tables come from a document's layout regions (DocumentOptions.layout), never from Recognize
NOT_FROM_A_RESULT = {"RecognizeResponse.error", "TextLine.track_id", "Word.source", "Block.table"}
STRUCTURE_ONLY = {"Word.break_after"}  # set on the words of `blocks`, unset on those of `lines`


def _cli_row(tmp_path, capsys, monkeypatch, engine, image: bytes, skip: bool) -> dict:
    """What `python -m edge_runtime recognize --json` prints, on the engine the test server serves with."""
    monkeypatch.setattr("edge_runtime.pipeline.OcrEngine", lambda config: engine)
    path = tmp_path / "image.png"
    path.write_bytes(image)
    assert edge_main(["recognize", "--json", *(["--skip-detection"] if skip else []), str(path)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row.pop("image") == str(path)
    return row


@pytest.mark.parametrize("case", IMAGES)
def test_cli_prints_the_json_of_the_server_response(client, engine, tmp_path, capsys, monkeypatch, case):
    image, skip = IMAGES[case]
    served = client.recognize(image, skip_detection=skip).message
    row = _cli_row(tmp_path, capsys, monkeypatch, engine, image, skip)
    assert (case == "blank") == (not row["lines"])
    server_json = json_format.MessageToDict(
        served, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert set(row.pop("timings")) == set(server_json.pop("timings")) == set(TIMING_FIELDS.values())
    assert row == server_json
    assert json.dumps(row, sort_keys=True) == json.dumps(server_json, sort_keys=True)  # the same floats, printed


def _unfilled(message, path: str = "") -> list[str]:
    """Fields of ``message`` (and of its first element of each repeated message) left at their default."""
    missing = []
    for field in message.DESCRIPTOR.fields:
        name = f"{message.DESCRIPTOR.name}.{field.name}"
        if name in NOT_FROM_A_RESULT or (name in STRUCTURE_ONLY and path.startswith("lines")):
            continue
        value = getattr(message, field.name)
        if field.is_repeated:
            if not len(value):
                missing.append(path + field.name)
            elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
                missing += _unfilled(value[0], f"{path}{field.name}[0].")
        elif field.message_type is not None:
            missing += _unfilled(value, f"{path}{field.name}.") if message.HasField(field.name) else [path + field.name]
        elif value == field.default_value:
            missing.append(path + field.name)
    return missing


def test_every_field_of_the_response_comes_from_the_result():
    word = types.Word("é", 1 / 3, ((0.2, 0.3),) * 4)
    line = types.TextLine(
        "é 1", 0.123456789, ((0.1, 1e-7), (1234.5625, 3.4e38), (-1.0, 2 / 3), (1e6 + 0.5, 7.0)), (word,), 90
    )
    timings = {stage: 1.5 + k for k, stage in enumerate(TIMING_FIELDS)}
    result = types.OcrResult(7, 9, (line,), timings, types.Provenance("b", "openvino", "cpu", {"det": "int8"}))
    span = Span("Date:", ((1.0, 2.0),) * 4)
    found = Extraction(
        (Field("date", "2018-03-21", "21-03-2018", 0.5, ((1.0, 2.0),) * 4, "receipt"),), (KeyValue(span, span, 0.25),)
    )  # key fields: from the result's lines, when asked
    message = messages.recognize_response(result, found)
    assert _unfilled(message) == []
    assert _unfilled(ocr_pb2.RecognizeResponse(lines=[ocr_pb2.TextLine()])) != []  # the walk does find gaps
    row = messages.to_json(message)
    assert json_format.ParseDict(json.loads(json.dumps(row)), ocr_pb2.RecognizeResponse()) == message
    assert row["timings"] == {field: timings[stage] for stage, field in TIMING_FIELDS.items()}


def test_awkward_floats_and_empty_fields():
    line = types.TextLine("x", float("nan"), ((0.1, float("inf")),) * 4)
    result = types.OcrResult(
        1, 1, (line,), {"decode": 0.25, "total": float("-inf"), "change": 3.0}, types.Provenance("", "", "", {})
    )
    row = messages.response_json(result)
    assert row["lines"][0]["confidence"] == "NaN" and row["lines"][0]["polygon"][0] == {"x": 0.1, "y": "Infinity"}
    assert row["timings"]["total_ms"] == "-Infinity" and "change" not in json.dumps(row["timings"])
    empty = messages.response_json(types.OcrResult(0, 0, (), {}, types.Provenance("", "", "", {})))
    assert empty == {
        "lines": [],
        "text": "",
        "image_width": 0,
        "image_height": 0,
        "timings": {field: 0.0 for field in TIMING_FIELDS.values()},
        "provenance": {"bundle_id": "", "backend": "", "device": "", "stage_precision": {}},
        "blocks": [],
        "fields": [],
        "key_values": [],
    }
