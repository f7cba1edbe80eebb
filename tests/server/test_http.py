"""OCR over HTTP/JSON on a real server: the same answers as gRPC (the proto3 JSON mapping of the same message),
errors with Google's HTTP status mapping and the stable reason, documents as JSON lines."""

from __future__ import annotations

import base64

import grpc
import pytest

from clients.ocr_client import OcrClient
from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
from clients.ocr_client.results import to_dict
from server.config import ServerConfig
from server.http.errors import HTTP_STATUS
from tests.conftest import get_engine
from tests.edge_runtime.document.pdfs import Picture, Text, make_pdf, scan
from tests.server.httpcalls import http, http_server, multipart
from tests.server.images import receipt_jpg, scene_png

CONFIG = ServerConfig(host="127.0.0.1", port=0, max_message_bytes=4 * 1024 * 1024, max_batch_images=4)
PAGES = [
    [Text("Quarterly report", 72, 700, 20), Text("Revenue grew in every region this quarter.", 72, 650)],
    [Picture(scan("INVOICE 2041 TOTAL 88.20", size=(900, 200)), 72, 500, 450, 100)],
]


@pytest.fixture(scope="module")
def served():
    server = http_server(get_engine, CONFIG)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(served):
    with OcrClient(served.target, timeout=120) as c:
        yield c


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def without_timings(answer: dict) -> dict:
    """Timings are measured per call; everything else must be equal."""
    return {k: v for k, v in answer.items() if k != "timings"}


@pytest.mark.parametrize("image", [scene_png, receipt_jpg])
def test_recognize_over_http_equals_grpc(served, client, image):
    data = image()
    grpc_answer = to_dict(ocr_pb2_grpc.OcrServiceStub(client.channel).Recognize(
        ocr_pb2.RecognizeRequest(image=ocr_pb2.Image(content=data)), timeout=120
    ))
    answer = http(served.http_base, "POST", "/v1/images:recognize", {"image": {"content": b64(data)}})
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    assert len(answer.headers["x-request-id"]) >= 16
    body = answer.json()
    assert body["lines"], "the test image has text"
    assert without_timings(body) == without_timings(grpc_answer)
    assert set(body["timings"]) == set(grpc_answer["timings"])


def test_batch_answers_each_item_and_a_bad_one_alone(served):
    good = b64(scene_png())
    answer = http(
        served.http_base,
        "POST",
        "/v1/images:batchRecognize",
        {"requests": [{"image": {"content": good}}, {"image": {"content": b64(b"not an image")}}]},
    )
    assert answer.status == 200, answer.body
    first, second = answer.json()["responses"]
    assert first["lines"] and "error" not in first
    assert second["error"]["reason"] == "IMAGE_UNDECODABLE" and second["error"]["code"] == 3


def test_server_info_is_a_get(served, client):
    answer = http(served.http_base, "GET", "/v1/serverInfo")
    assert answer.status == 200
    assert answer.json()["provenance"] == to_dict(client.server_info().message)["provenance"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"image": {}}, 400, "IMAGE_MISSING"),
        ({"image": {"content": b64(b"\x89PNG\r\n\x1a\n")}}, 400, "IMAGE_UNDECODABLE"),
        (b"{not json", 400, "REQUEST_MALFORMED"),
        ({"image": {"content": 5}}, 400, "REQUEST_MALFORMED"),
        ({"no_such_field": 1}, 400, "REQUEST_MALFORMED"),
        ([1, 2], 400, "REQUEST_MALFORMED"),
    ],
)
def test_errors_carry_status_reason_and_header(served, body, status, reason):
    headers = {"content-type": "application/json"}
    answer = http(served.http_base, "POST", "/v1/images:recognize", body, headers)
    assert answer.status == status, answer.body
    assert answer.reason == reason
    error = answer.json()["error"]
    assert error["code"] == status and error["reason"] == reason and error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == reason


def test_unknown_routes_and_methods(served):
    assert http(served.http_base, "GET", "/v1/nothing").reason == "ROUTE_UNKNOWN"
    wrong = http(served.http_base, "GET", "/v1/images:recognize")
    assert wrong.status == 405 and wrong.reason == "HTTP_METHOD_NOT_ALLOWED"
    # a server without the fleet role has no fleet routes
    assert http(served.http_base, "GET", "/v1/devices").status == 404


def test_an_over_size_body_is_refused_with_its_reason(served):
    limit = max(CONFIG.max_message_bytes, CONFIG.max_document_bytes) * 4 // 3 + (1 << 16)
    answer = http(served.http_base, "POST", "/v1/images:recognize", b"x" * (limit + 1))
    assert answer.status == 413 and answer.reason == "MESSAGE_TOO_LARGE"


def test_grpc_status_mapping_follows_the_design_guide():
    assert len(HTTP_STATUS) == len(grpc.StatusCode)
    code = grpc.StatusCode
    assert HTTP_STATUS[code.INVALID_ARGUMENT] == 400 and HTTP_STATUS[code.UNAUTHENTICATED] == 401
    assert HTTP_STATUS[code.PERMISSION_DENIED] == 403 and HTTP_STATUS[code.RESOURCE_EXHAUSTED] == 429
    assert HTTP_STATUS[code.UNAVAILABLE] == 503 and HTTP_STATUS[code.DEADLINE_EXCEEDED] == 504


def _grpc_document(client, data: bytes) -> list[dict]:
    def requests():
        yield ocr_pb2.RecognizeDocumentRequest(options=ocr_pb2.DocumentOptions())
        yield ocr_pb2.RecognizeDocumentRequest(chunk=data)

    stub = ocr_pb2_grpc.OcrServiceStub(client.channel)
    return [to_dict(r) for r in stub.RecognizeDocument(requests(), timeout=300)]


def _pages(lines: list[dict]) -> list[dict]:
    return [without_timings(line["page"]) for line in lines if "page" in line]


def test_a_pdf_as_multipart_answers_json_lines_equal_to_grpc(served, client):
    data = make_pdf(PAGES)
    body, kind = multipart([("file", "report.pdf", "application/pdf", data)])
    answer = http(served.http_base, "POST", "/v1/documents:recognize", body, {"content-type": kind})
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    lines = answer.lines()
    assert [line["page"]["page_number"] for line in lines] == [1, 2]
    assert "INVOICE" in lines[1]["page"]["text"]
    assert _pages(lines) == _pages(_grpc_document(client, data))


def test_a_document_as_json_lines_with_options(served):
    data = make_pdf(PAGES)
    body = (
        '{"options": {"pages": "2"}}\n'
        + "".join(f'{{"chunk": "{b64(data[i : i + 5000])}"}}\n' for i in range(0, len(data), 5000))
    ).encode()
    answer = http(served.http_base, "POST", "/v1/documents:recognize", body, {"content-type": "application/x-ndjson"})
    assert answer.status == 200, answer.body
    assert [line["page"]["page_number"] for line in answer.lines()] == [2]


def test_bad_documents_answer_their_status_and_reason(served):
    options = ("options", "", "application/json", b'{"pages": "7-9"}')
    body, kind = multipart([options, ("file", "r.pdf", "application/pdf", make_pdf(PAGES))])
    answer = http(served.http_base, "POST", "/v1/documents:recognize", body, {"content-type": kind})
    assert answer.status == 400 and answer.reason == "PAGE_RANGE_INVALID"
    body, kind = multipart([("file", "x.pdf", "application/pdf", b"%PDF-1.7 broken")])
    answer = http(served.http_base, "POST", "/v1/documents:recognize", body, {"content-type": kind})
    assert answer.status == 400 and answer.json()["error"]["reason"] == answer.reason
    body, kind = multipart([("other", "", "text/plain", b"x")])
    answer = http(served.http_base, "POST", "/v1/documents:recognize", body, {"content-type": kind})
    assert answer.status == 400 and answer.reason == "REQUEST_MALFORMED"


def test_openapi_is_served_for_the_served_services(served):
    from server.http.openapi import contract_services, openapi_document

    answer = http(served.http_base, "GET", "/openapi.json")
    assert answer.status == 200
    ocr_only = [s for s in contract_services() if s.name == "OcrService"]
    assert answer.json() == openapi_document(ocr_only)
