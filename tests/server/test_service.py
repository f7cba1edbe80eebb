"""OcrService through a real server: results equal the in-process engine, batching, streams, concurrency."""

from __future__ import annotations

import threading

import cv2
import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from clients.ocr_client import OcrCallError, RecognizeResult
from clients.ocr_client.pb import ocr_pb2
from tests.server.images import blank_png, receipt_jpg, scene_png, word_pngs


def assert_same(response: RecognizeResult, expected) -> None:
    """A served response equals an in-process OcrResult: same text, same geometry, same confidences."""
    assert [line.text for line in response.lines] == [line.text for line in expected.lines]
    assert (response.image_width, response.image_height) == (expected.width, expected.height)
    for got, want in zip(response.lines, expected.lines, strict=True):
        assert got.confidence == pytest.approx(want.confidence, abs=1e-4)
        assert [c for p in got.polygon for c in (p.x, p.y)] == pytest.approx(
            [c for pt in want.polygon for c in pt], abs=1e-3
        )
        assert [w.text for w in got.words] == [w.text for w in want.words]
        assert got.angle == want.angle


def test_health_serving_and_reflection(served, client):
    assert client.health("") == "SERVING"
    assert client.health() == "SERVING"
    stub = reflection_pb2_grpc.ServerReflectionStub(client.channel)
    answer = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in answer.list_services_response.service}
    assert {"ocr.v1.OcrService", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("make", [scene_png, receipt_jpg], ids=["scene", "receipt"])
def test_recognize_equals_in_process_engine(client, engine, make):
    data = make()
    response = client.recognize(data)
    expected = engine.recognize(data)
    assert expected.lines, "test image should have text"
    assert_same(response, expected)
    assert response.text == expected.text
    p = response.provenance
    assert (p.bundle_id, p.backend, p.device) == (
        engine.provenance.bundle,
        engine.provenance.backend,
        engine.provenance.device,
    )
    assert dict(p.stage_precision) == engine.provenance.precision
    t = response.timings
    assert t.total_ms > 0 and t.detection_ms > 0 and t.recognition_ms > 0


def test_skip_detection_equals_in_process_engine(client, engine):
    for data in word_pngs()[:4]:
        assert_same(client.recognize(data, skip_detection=True), engine.recognize(data, skip_detection=True))


def test_raw_pixels_equal_encoded_image(client, engine):
    bgr = cv2.imdecode(np.frombuffer(scene_png(), np.uint8), cv2.IMREAD_COLOR)
    expected = engine.recognize(bgr)
    assert_same(client.recognize(bgr), expected)  # numpy array -> RawImage BGR8
    h, w = bgr.shape[:2]
    rgb = ocr_pb2.RawImage(
        width=w, height=h, pixel_format=ocr_pb2.PIXEL_FORMAT_RGB8, data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).tobytes()
    )
    assert_same(client.recognize(rgb), expected)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert_same(client.recognize(gray), engine.recognize(gray))
    nv12 = ocr_pb2.RawImage(width=w, height=h, pixel_format=ocr_pb2.PIXEL_FORMAT_NV12, data=_nv12(bgr))
    assert client.recognize(nv12).lines  # lossy colour conversion: text found, not necessarily identical


def _nv12(bgr: np.ndarray) -> bytes:
    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    y, u, v = i420[: h * w], i420[h * w : h * w * 5 // 4], i420[h * w * 5 // 4 :]
    uv = np.stack([u, v], axis=1).reshape(-1)
    return np.concatenate([y, uv]).tobytes()


def test_no_text_is_ok_with_zero_lines(client):
    response = client.recognize(blank_png())
    assert len(response.lines) == 0 and response.text == ""
    assert (response.image_width, response.image_height) == (200, 120)


def test_batch_keeps_order_and_isolates_bad_images(client, engine):
    words = word_pngs()
    items = [scene_png(), b"not an image", words[0], ocr_pb2.Image(), b"", words[1]]
    responses = client.batch_recognize(items)
    assert len(responses) == len(items)
    expected_errors = {1: "IMAGE_UNDECODABLE", 3: "IMAGE_MISSING", 4: "IMAGE_EMPTY"}
    for i, response in enumerate(responses):
        if i in expected_errors:
            assert response.error.code == grpc.StatusCode.INVALID_ARGUMENT
            assert response.error.reason == expected_errors[i]
            assert not response.lines
        else:
            assert response.error is None
            assert_same(response, engine.recognize(items[i]))


def test_batch_skip_detection_and_empty_batch(client, engine):
    words = word_pngs()[:6]
    responses = client.batch_recognize(words, skip_detection=True)
    assert [r.text for r in responses] == [engine.recognize(w, skip_detection=True).text for w in words]
    assert client.batch_recognize([]) == []


def test_batch_over_the_limit_is_refused(client):
    with pytest.raises(OcrCallError) as info:
        client.batch_recognize([blank_png()] * 9)
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BATCH_TOO_LARGE")


def test_sixteen_concurrent_clients_get_their_own_text(served, client):
    """16 callers at once get exactly what each gets alone; their model runs overlapped on the one-thread
    streams (cross-call batching, off on a CPU by default, is tested in test_batching.py)."""
    words = word_pngs(16)
    jobs = [(w, True) for w in words[:14]] + [(scene_png(), False), (receipt_jpg(), False)]
    alone = [client.recognize(data, skip_detection=skip) for data, skip in jobs]
    lanes = [served.plane.engine._sessions[stage]._lanes for stage in ("det", "cls", "rec")]
    narrow_before = sum(lane.started["narrow"] for lane in lanes)
    together: list = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def call(k: int) -> None:
        start.wait()
        together[k] = client.recognize(jobs[k][0], skip_detection=jobs[k][1])

    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for one, many in zip(alone, together, strict=True):
        assert many is not None
        assert [line.text for line in many.lines] == [line.text for line in one.lines]
        for a, b in zip(many.lines, one.lines, strict=True):
            assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
    assert served.plane.batcher is None  # the CPU default: no cross-call batches
    assert sum(lane.started["narrow"] for lane in lanes) > narrow_before, "no runs went side by side"


def test_stream_answers_every_frame_in_order(client, engine):
    words = word_pngs()[:3]
    frames = [words[0], b"garbage", words[1], ocr_pb2.Image(), words[2]]
    config = ocr_pb2.StreamConfig(
        options=ocr_pb2.RecognizeOptions(skip_detection=True), flow_control=ocr_pb2.FLOW_CONTROL_ALL
    )
    responses = list(client.stream_recognize(frames, config=config))
    assert [r.sequence for r in responses] == [0, 1, 2, 3, 4]
    assert responses[1].error.reason == "IMAGE_UNDECODABLE"
    assert responses[3].error.reason == "IMAGE_MISSING"
    for k, w in ((0, words[0]), (2, words[1]), (4, words[2])):
        assert responses[k].error is None
        assert [line.text for line in responses[k].lines] == [line.text for line in engine.recognize(w, True).lines]
        assert responses[k].frames_dropped == 0 and responses[k].capture_time is not None


def test_stream_must_start_with_config(client):
    stub = client.stub
    frame = ocr_pb2.StreamRecognizeRequest(frame=ocr_pb2.Frame(sequence=1, image=ocr_pb2.Image(content=blank_png())))
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamRecognize(iter([frame]), timeout=60))
    error = OcrCallError.from_rpc_error(info.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "STREAM_CONFIG_MISSING")
    config = ocr_pb2.StreamRecognizeRequest(config=ocr_pb2.StreamConfig())
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamRecognize(iter([config, config]), timeout=60))
    error = OcrCallError.from_rpc_error(info.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "STREAM_CONFIG_REPEATED")
    assert list(stub.StreamRecognize(iter([config]), timeout=60)) == []  # config only: no frames, no answers


def test_server_info(client, engine):
    info = client.server_info()
    assert info.ready and info.server_version
    assert info.provenance.bundle_id == engine.provenance.bundle
    assert info.limits.max_image_pixels == engine.config.max_image_pixels
    assert info.limits.max_message_bytes == 4 * 1024 * 1024
    assert "PNG" in info.image_formats and "PIXEL_FORMAT_NV12" in info.pixel_formats
    assert info.batch_max_size >= 1
