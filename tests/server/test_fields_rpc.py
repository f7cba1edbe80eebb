"""Key fields through the server: asked per call by set name (Recognize, RecognizeDocument, StreamRecognize), the
server's fields file validated at start, an unknown set refused before any model runs, and the fields masked like
the lines."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import grpc
import pytest

from clients.ocr_client import OcrCallError, OcrClient
from clients.ocr_client.cli import main as client_main
from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
from edge_runtime.errors import ConfigurationError
from edge_runtime.fields.reread import reread_header
from edge_runtime.stream.sources import encode_jpeg
from server.config import ServerConfig
from server.convert import image_source
from server.embedded import ServerThread
from tests.conftest import REPO, get_engine
from tests.edge_runtime.fields.render import FORM, RECEIPT, page
from tests.server.conftest import TEST_CONFIG
from tests.stream import stream_videos

FIELDS_FILE = """
[sets.billing]
[[sets.billing.fields]]
name = "invoice"
labels = ["invoice no"]
patterns = ['INV\\d{5}']
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = tmp_path_factory.mktemp("fields") / "fields.toml"
    path.write_text(FIELDS_FILE)
    server = ServerThread(get_engine, dataclasses.replace(TEST_CONFIG, fields_file=str(path), redact="phone"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(served):
    with grpc.insecure_channel(served.target) as channel:
        yield ocr_pb2_grpc.OcrServiceStub(channel)


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


def _stream(stub, fields: list[str], frames) -> list[ocr_pb2.StreamRecognizeResponse]:
    def requests():
        options = ocr_pb2.RecognizeOptions(fields=fields)
        yield ocr_pb2.StreamRecognizeRequest(
            config=ocr_pb2.StreamConfig(options=options, flow_control=ocr_pb2.FLOW_CONTROL_ALL)
        )
        for sequence, image in enumerate(frames):
            yield ocr_pb2.StreamRecognizeRequest(
                frame=ocr_pb2.Frame(sequence=sequence, image=ocr_pb2.Image(content=encode_jpeg(image)))
            )

    return list(stub.StreamRecognize(requests(), timeout=300))


def _till(n: int = 8) -> list:
    img = stream_videos._background(640, 360)
    stream_videos._put(img, "INVOICE NO INV20931", 60, 140, 1.3, stream_videos.WHITE, 3)
    stream_videos._put(img, "TOTAL 12.50", 130, 240, 1.5, stream_videos.YELLOW, 3)
    return [img.copy() for _ in range(n)]


def test_a_stream_s_events_carry_the_fields_of_their_line(stub):
    """StreamConfig.options.fields asks a stream for field sets, the server's fields file included; each event
    carries the fields of its tracked line, and a stream that asks for none gets none."""
    responses = _stream(stub, ["receipt", "billing"], _till())
    events = [e for r in responses for e in r.events]
    assert events and not any(r.HasField("error") for r in responses)
    found = {(f.field_set, f.name, f.value) for e in events for f in e.fields}
    assert ("receipt", "total", "12.50") in found, [(e.text, list(e.fields)) for e in events]
    assert any(s == "billing" and n == "invoice" and "INV20931" in v for s, n, v in found), found
    total = next(f for e in events for f in e.fields if f.name == "total")
    assert 0 < total.confidence <= 1 and len(total.polygon) == 4
    assert not any(f.name in ("company", "address") for e in events for f in e.fields)  # a page's header, not a line
    plain = _stream(stub, [], _till(4))
    assert [e for r in plain for e in r.events] and not any(e.fields for r in plain for e in r.events)


@pytest.mark.parametrize(("fields", "reason"), [(["nosuch"], "FIELD_SET_UNKNOWN"), (["form"], "FIELD_SET_UNSUPPORTED")])
def test_a_stream_asking_for_a_set_it_cannot_have_is_refused(stub, fields, reason):
    with pytest.raises(grpc.RpcError) as caught:
        _stream(stub, fields, _till(2))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert dict(caught.value.trailing_metadata() or ()).get("ocr-error-reason") == reason


def test_the_python_client_asks_for_fields_and_returns_them_typed(served, tmp_path, capsys):
    """OcrClient.recognize / batch_recognize / recognize_document take ``fields``; results carry KeyField and
    KeyValue; ``ocr-client recognize --fields`` prints them after the text."""
    with OcrClient(served.target) as client:
        result = client.recognize(page(RECEIPT), fields=["receipt", "billing"])
        by_name = {(f.field_set, f.name): f for f in result.fields}
        assert by_name["receipt", "total"].value == "15.40" and len(by_name["receipt", "total"].polygon) == 4
        assert by_name["billing", "invoice"].text == "INV20931"
        assert not client.recognize(page(RECEIPT)).fields  # none asked, none read
        form, receipt = client.batch_recognize([page(FORM), page(RECEIPT)], fields=["form", "receipt"])
        assert form.key_values and all(kv.key and kv.value for kv in form.key_values)
        assert {f.name: f.value for f in receipt.fields}["total"] == "15.40"  # its header read again, in a batch
        with client.recognize_document(page(RECEIPT), fields=["receipt"]) as results:
            (doc_page,) = results.pages()
        assert {f.name for f in doc_page.fields} >= {"total", "date"}
        with pytest.raises(OcrCallError) as refused:
            client.recognize(page(RECEIPT), fields=["nosuch"])
        assert refused.value.reason == "FIELD_SET_UNKNOWN"
    image = tmp_path / "receipt.png"
    image.write_bytes(page(RECEIPT))
    assert client_main(["--target", served.target, "recognize", str(image), "--fields", "receipt"]) == 0
    assert "receipt.total = 15.40" in capsys.readouterr().out


def test_the_server_reads_a_receipt_s_header_again_as_the_engine_does(served):
    """The plane runs the header's second reading (fields.reread) on its lanes, from the image decoded again: the
    same lines as the engine's own synchronous run, and a page without a header line costs no model run."""
    image = page(RECEIPT)
    engine = served.plane.current_engine()
    lines = engine.recognize(image).lines
    source = image_source(ocr_pb2.Image(content=image))
    served_again = served.call(served.plane.reread_header(source, lines))
    assert served_again == reread_header(engine, engine.load_image(image), lines)
    assert len(served_again) == len(lines) and [ln.polygon for ln in served_again] == [ln.polygon for ln in lines]
    assert served.call(served.plane.reread_header(source, [])) == []
