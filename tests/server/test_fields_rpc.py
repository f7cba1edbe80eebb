"""Key fields through the server: asked per call by set name (Recognize, RecognizeDocument), the server's fields
file validated at start, an unknown set refused before any model runs, and the fields masked like the lines."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import grpc
import pytest

from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
from edge_runtime.errors import ConfigurationError
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import REPO, get_engine
from tests.edge_runtime.fields.render import FORM, RECEIPT, page
from tests.server.conftest import TEST_CONFIG

FIELDS_FILE = """
[sets.billing]
[[sets.billing.fields]]
name = "invoice"
labels = ["invoice no"]
patterns = ['INV\\d{5}']
"""


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    path = tmp_path_factory.mktemp("fields") / "fields.toml"
    path.write_text(FIELDS_FILE)
    server = ServerThread(get_engine, dataclasses.replace(TEST_CONFIG, fields_file=str(path), redact="phone"))
    with grpc.insecure_channel(server.target) as channel:
        yield ocr_pb2_grpc.OcrServiceStub(channel)
    server.stop()


def _recognize(stub, image: bytes, fields: list[str]) -> ocr_pb2.RecognizeResponse:
    options = ocr_pb2.RecognizeOptions(fields=fields)
    request = ocr_pb2.RecognizeRequest(image=ocr_pb2.Image(content=image), options=options)
    return stub.Recognize(request, timeout=120)


def test_recognize_with_and_without_fields(stub):
    asked = _recognize(stub, page(RECEIPT), ["receipt", "billing"])
    by_name = {(f.field_set, f.name): f for f in asked.fields}
    assert by_name["receipt", "total"].value == "15.40"
    assert by_name["receipt", "date"].value == "2018-03-21"
    assert by_name["billing", "invoice"].text == "INV20931"
    assert "1234" not in by_name["receipt", "address"].text + "".join(kv.value.text for kv in asked.key_values)
    plain = _recognize(stub, page(RECEIPT), [])
    assert not plain.fields and not plain.key_values and plain.lines


def test_an_unknown_set_is_refused(stub):
    with pytest.raises(grpc.RpcError) as caught:
        _recognize(stub, page(RECEIPT), ["nosuch"])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert dict(caught.value.trailing_metadata() or ()).get("ocr-error-reason") == "FIELD_SET_UNKNOWN"


def test_document_pages_carry_form_pairs(stub):
    def requests():
        yield ocr_pb2.RecognizeDocumentRequest(options=ocr_pb2.DocumentOptions(fields=["form"]))
        yield ocr_pb2.RecognizeDocumentRequest(chunk=page(FORM))

    pages = [r.page for r in stub.RecognizeDocument(requests(), timeout=300) if r.WhichOneof("response") == "page"]
    pairs = {kv.key.text: kv.value.text for kv in pages[0].key_values}
    assert pairs["Date:"] == "3/15/88" and pairs["Remarks:"] == "SHIP BY TRUCK"


def test_a_bad_fields_file_stops_the_start_one_line_per_mistake(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[sets.x]\nfields = [{name = "a", patterns = ["(a+)+$"]}, {name = "B", labels = ["b"]}]\n')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "server", "--port", "0", "--fields-file", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error:") and all(str(path) in ln for ln in lines)
    assert [re.findall(r"\[([A-Z_]+)\]", ln) for ln in lines] == [
        ["FIELD_PATTERN_UNSAFE"],
        ["FIELD_NAME_INVALID", "FIELDS_FILE_INVALID"],
    ]
    with pytest.raises(ConfigurationError) as caught:
        ServerConfig(fields_file=str(path))
    assert caught.value.reason == "FIELDS_FILE_INVALID"


def test_batch_items_ask_their_own_sets(stub):
    def item(fields: list[str]) -> ocr_pb2.RecognizeRequest:
        options = ocr_pb2.RecognizeOptions(fields=fields)
        return ocr_pb2.RecognizeRequest(image=ocr_pb2.Image(content=page(RECEIPT)), options=options)

    batch = ocr_pb2.BatchRecognizeRequest(requests=[item(["receipt"]), item([]), item(["nosuch"])])
    first, second, third = stub.BatchRecognize(batch, timeout=300).responses
    assert {f.name for f in first.fields} >= {"company", "address", "date", "total"}
    assert not second.fields and second.lines
    assert third.error.reason == "FIELD_SET_UNKNOWN" and not third.lines
