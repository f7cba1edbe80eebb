"""Every error of the contract through a real server: status code and stable reason; the server stays SERVING."""

from __future__ import annotations

import logging
import threading
import time

import grpc
import pytest

from clients.ocr_client import OcrCallError, OcrClient
from clients.ocr_client.pb import ocr_pb2
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine
from tests.server.images import blank_png, hostile_inputs, scene_png, word_pngs

INVALID = grpc.StatusCode.INVALID_ARGUMENT
HOSTILE = hostile_inputs()


def reason_of(call) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(OcrCallError) as info:
        call()
    return info.value.code, info.value.reason


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_content(client, name):
    content, reason = HOSTILE[name]
    assert reason_of(lambda: client.recognize(content)) == (INVALID, reason)


def raw(width, height, fmt, size=None):
    per_pixel = {ocr_pb2.PIXEL_FORMAT_GRAY8: 1, ocr_pb2.PIXEL_FORMAT_BGR8: 3, ocr_pb2.PIXEL_FORMAT_UNSPECIFIED: 3}
    size = width * height * per_pixel.get(fmt, 3) if size is None else size
    return ocr_pb2.RawImage(width=width, height=height, pixel_format=fmt, data=bytes(size))


@pytest.mark.parametrize(
    "image, reason",
    [
        (raw(64, 32, ocr_pb2.PIXEL_FORMAT_BGR8, size=100), "RAW_SIZE_MISMATCH"),
        (raw(64, 32, ocr_pb2.PIXEL_FORMAT_UNSPECIFIED), "RAW_FORMAT_UNSUPPORTED"),
        (raw(100_000, 1, ocr_pb2.PIXEL_FORMAT_GRAY8), "IMAGE_TOO_SMALL"),
        (raw(100_000, 100_000, ocr_pb2.PIXEL_FORMAT_GRAY8, size=16), "IMAGE_TOO_LARGE"),
        (raw(0, 32, ocr_pb2.PIXEL_FORMAT_GRAY8), "IMAGE_EMPTY"),
        (raw(-5, 32, ocr_pb2.PIXEL_FORMAT_GRAY8, size=0), "IMAGE_EMPTY"),
        (raw(63, 31, ocr_pb2.PIXEL_FORMAT_NV12, size=63 * 31 * 3 // 2), "RAW_SIZE_MISMATCH"),
        (ocr_pb2.Image(), "IMAGE_MISSING"),
    ],
    ids=["size-mismatch", "no-format", "100k-by-1", "bomb", "zero-width", "negative", "nv12-odd", "no-oneof"],
)
def test_bad_raw_and_missing_images(client, image, reason):
    assert reason_of(lambda: client.recognize(image)) == (INVALID, reason)


def test_missing_image_field(client):
    error = reason_of(lambda: client._call(client.stub.Recognize, ocr_pb2.RecognizeRequest()))
    assert error == (INVALID, "IMAGE_MISSING")


@pytest.mark.parametrize("method", ["Recognize", "BatchRecognize", "GetServerInfo"])
def test_malformed_protobuf(client, method):
    call = client.channel.unary_unary(f"/ocr.v1.OcrService/{method}")  # raw bytes in and out
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x0a" * 5000):
        with pytest.raises(grpc.RpcError) as info:
            call(garbage, timeout=30)
        error = OcrCallError.from_rpc_error(info.value)
        assert (error.code, error.reason) == (INVALID, "REQUEST_MALFORMED")


def test_oversize_message(client):
    too_big = b"\x89PNG" + bytes(5 * 1024 * 1024)  # the test server accepts 4 MiB
    assert reason_of(lambda: client.recognize(too_big)) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE")
    far_too_big = b"\x89PNG" + bytes(9 * 1024 * 1024)  # over twice the limit: gRPC cuts it off unread
    assert reason_of(lambda: client.recognize(far_too_big)) == (grpc.StatusCode.RESOURCE_EXHAUSTED, None)


def test_server_still_serving_after_hostile_inputs(client):
    assert client.health() == "SERVING"
    assert client.recognize(word_pngs()[0], skip_detection=True).lines


def test_internal_error_is_generic_and_logged(served, client, monkeypatch, caplog):
    engine = served.plane.engine

    def broken(image, params=None):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(engine, "detect_steps", broken)
    with caplog.at_level(logging.ERROR, logger="server.errors"), pytest.raises(OcrCallError) as info:
        client.recognize(scene_png())
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")
    assert "secret" not in info.value.message
    records = [r for r in caplog.records if r.name == "server.errors"]
    assert records and records[-1].exc_info and "secret internal detail" in str(records[-1].exc_info[1])
    responses = client.batch_recognize([scene_png(), word_pngs()[0]], skip_detection=False)
    assert responses[0].error.reason == "INTERNAL" and "secret" not in responses[0].error.message
    assert responses[0].error.code == grpc.StatusCode.INTERNAL
    skipped = client.batch_recognize([word_pngs()[0]], skip_detection=True)  # no detection: unaffected
    assert skipped[0].lines and skipped[0].error is None
    monkeypatch.undo()
    assert client.health() == "SERVING"


def _block_inference(served) -> threading.Event:
    """Occupy the model thread until the returned event is set (models run on one thread)."""
    gate = threading.Event()
    served.plane._infer.submit(gate.wait, 60)
    return gate


def test_expired_calls_are_not_computed(served, client):
    stats = served.plane.stats
    before = (stats.detections, stats.images, stats.recognitions)
    gate = _block_inference(served)
    try:
        code, _ = reason_of(lambda: client.recognize(scene_png(), timeout=0.5))
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        code, _ = reason_of(lambda: client.recognize(word_pngs()[0], skip_detection=True, timeout=0.3))
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        gate.set()
    client.recognize(blank_png())  # goes through the same queue: the expired work would have run before it
    assert (stats.detections, stats.images, stats.recognitions) == (before[0] + 1, before[1] + 1, before[2])


def test_overloaded_is_resource_exhausted():
    server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0, max_concurrent_rpcs=1))
    try:
        with OcrClient(server.target, timeout=60) as client:
            gate = _block_inference(server)
            first: list = []
            thread = threading.Thread(
                target=lambda: first.append(client.recognize(word_pngs()[0], skip_detection=True))
            )
            thread.start()
            deadline = time.monotonic() + 30
            while server.plane.active_calls < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            try:
                code_reason = reason_of(lambda: client.recognize(word_pngs()[1], skip_detection=True))
                assert code_reason == (grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED")
                assert client.health() == "SERVING"  # health is never refused
            finally:
                gate.set()
                thread.join(60)
            assert first and first[0].lines
            assert client.recognize(word_pngs()[1], skip_detection=True).lines
    finally:
        server.stop()


def test_warming_up_is_unavailable_and_health_follows():
    release = threading.Event()

    def slow_factory():
        release.wait(120)
        return get_engine()

    server = ServerThread(slow_factory, wait=False)
    try:
        with OcrClient(server.target, timeout=30) as client:
            assert client.health() == "NOT_SERVING"
            assert client.health("") == "NOT_SERVING"
            assert reason_of(lambda: client.recognize(blank_png())) == (grpc.StatusCode.UNAVAILABLE, "MODEL_NOT_READY")
            assert not client.server_info().ready
            release.set()
            client.wait_until_serving(120)
            assert client.health("") == "SERVING"
            assert client.server_info().ready
            assert client.recognize(word_pngs()[0], skip_detection=True).lines
    finally:
        release.set()
        server.stop()


def test_error_table():
    from edge_runtime import errors as e
    from server.errors import InvalidRequestError, status_of

    sc = grpc.StatusCode
    cases = [
        (e.InvalidImageError("x", "IMAGE_TOO_LARGE"), sc.INVALID_ARGUMENT, "IMAGE_TOO_LARGE"),
        (InvalidRequestError("x", "IMAGE_MISSING"), sc.INVALID_ARGUMENT, "IMAGE_MISSING"),
        (e.OverloadedError("x"), sc.RESOURCE_EXHAUSTED, "OVERLOADED"),
        (e.NotReadyError("x"), sc.UNAVAILABLE, "MODEL_NOT_READY"),
        (e.NotReadyError("x", "SHUTTING_DOWN"), sc.UNAVAILABLE, "SHUTTING_DOWN"),
        (e.DeadlineExceededError("x"), sc.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
        (e.ModelError("x"), sc.UNAVAILABLE, "MODEL_UNAVAILABLE"),
        (e.BackendUnavailableError("x"), sc.FAILED_PRECONDITION, "BACKEND_UNAVAILABLE"),
        (ZeroDivisionError("private"), sc.INTERNAL, "INTERNAL"),
    ]
    for exc, code, reason in cases:
        got_code, got_reason, message = status_of(exc)
        assert (got_code, got_reason) == (code, reason), exc
        assert "private" not in message
