"""edge_runtime's own JSON mapping of a result equals protobuf's MessageToDict of what the server sends for it."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from edge_runtime import types
from edge_runtime.json_mapping import float32, recognize_response_dict
from server import convert
from tests.clients.render import line_png, page_png
from tests.server.images import blank_png


def message_dict(result: types.OcrResult) -> dict:
    return json_format.MessageToDict(convert.recognize_response(result), preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


@pytest.mark.parametrize("case", ["page", "line", "blank"])
def test_equals_message_to_dict_of_the_server_response(engine, case):
    image, skip = {"page": (page_png(), False), "line": (line_png("HELLO"), True), "blank": (blank_png(), False)}[case]
    result = engine.recognize(image, skip_detection=skip)
    assert (case == "blank") == (not result.lines)
    mine = recognize_response_dict(result)
    assert mine == message_dict(result)
    assert json.dumps(mine, sort_keys=True) == json.dumps(message_dict(result), sort_keys=True)  # same floats


def test_awkward_floats_and_empty_fields():
    line = types.TextLine("é 1", 0.123456789, ((0.1, 1e-7), (1234.5625, 3.4e38), (-0.0, 2 / 3), (1e6 + 0.5, 7.0)),
                          (types.Word("é", 1 / 3, ((0.2, 0.3),) * 4),), 90)
    result = types.OcrResult(7, 9, (line,), {"decode": 0.25, "total": float("inf")},
                             types.Provenance("b", "openvino", "cpu", {"det": "int8"}))
    assert recognize_response_dict(result) == message_dict(result)
    empty = types.OcrResult(0, 0, (), {}, types.Provenance("", "", "", {}))
    assert recognize_response_dict(empty) == message_dict(empty)
    assert float32(0.1) == 0.1 and float32(float("nan")) == "NaN"
