"""server.metrics through a real server: names, labels, stage histograms that sum to what the responses carried,
batch sizes, stream frames and events, the pending-work gauge, the info metric; JSON logs with the request id."""

from __future__ import annotations

import io
import json
import logging
import threading
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
from edge_runtime.stages import TIMING_FIELDS
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine
from tests.server.images import receipt_jpg, scene_png, word_pngs
from tests.services import free_port


@pytest.fixture(scope="module")
def measured():
    config = ServerConfig(host="127.0.0.1", port=0, metrics_port=free_port(), max_batch_images=16)
    server = ServerThread(get_engine, config)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(measured):
    with grpc.insecure_channel(measured.target) as channel:
        yield ocr_pb2_grpc.OcrServiceStub(channel)


def scrape(server) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from the server's /metrics port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples, name: str, **labels) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def request(image: bytes, skip: bool = False) -> ocr_pb2.RecognizeRequest:
    return ocr_pb2.RecognizeRequest(
        image=ocr_pb2.Image(content=image), options=ocr_pb2.RecognizeOptions(skip_detection=skip)
    )


def test_calls_stages_and_images_agree_with_the_responses(measured, stub) -> None:
    before = scrape(measured)
    answered = [stub.Recognize(request(scene_png()), timeout=120)]
    batch = stub.BatchRecognize(
        ocr_pb2.BatchRecognizeRequest(
            requests=[request(w, skip=True) for w in word_pngs(3)] + [request(b"not an image")]
        ),
        timeout=120,
    )
    answered += [r for r in batch.responses if not r.HasField("error")]
    with pytest.raises(grpc.RpcError) as refused:
        stub.Recognize(request(b"not an image either"), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = scrape(measured)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ocr_calls_total", method="Recognize", code="OK", reason="") == 1
    assert delta("ocr_calls_total", method="Recognize", code="INVALID_ARGUMENT", reason="IMAGE_UNDECODABLE") == 1
    assert delta("ocr_calls_total", method="BatchRecognize", code="OK", reason="") == 1
    assert delta("ocr_call_duration_seconds_count", method="Recognize") == 2
    assert len(answered) == 4
    for stage, field in TIMING_FIELDS.items():  # the histograms hold exactly the StageTimings the responses carried
        assert delta("ocr_stage_duration_seconds_count", stage=stage) == 4
        carried = sum(getattr(r.timings, field) for r in answered) / 1000
        assert delta("ocr_stage_duration_seconds_sum", stage=stage) == pytest.approx(carried, rel=1e-6, abs=1e-9)
    assert delta("ocr_lines_per_image_sum") == sum(len(r.lines) for r in answered)
    assert delta("ocr_characters_per_image_sum") == sum(len(line.text) for r in answered for line in r.lines)
    assert delta("ocr_image_pixels_sum") == sum(r.image_width * r.image_height for r in answered)
    assert delta("ocr_batch_size_count", stage="det") == 1  # one image went through the detector
    assert delta("ocr_batch_size_sum", stage="rec") >= sum(len(r.lines) for r in answered)
    assert value(after, "ocr_pending_work") == 0 and value(after, "ocr_inflight_calls", method="Recognize") == 0


def test_info_readiness_and_process_metrics(measured) -> None:
    samples = scrape(measured)
    engine = measured.plane.engine
    ((labels, one),) = samples["ocr_server_info"].items()
    labels = dict(labels)
    assert one == 1 and labels["bundle"] == engine.provenance.bundle and labels["backend"] == engine.provenance.backend
    assert {labels[f"precision_{s}"] for s in ("det", "rec")} <= {"fp32", "bf16", "int8"}
    assert value(samples, "ocr_ready") == 1
    assert value(samples, "process_resident_memory_bytes") > 0


def test_pending_work_counts_images_in_progress(measured, stub) -> None:
    images = [receipt_jpg()] * 6
    done = threading.Event()

    def call():
        try:
            stub.BatchRecognize(ocr_pb2.BatchRecognizeRequest(requests=[request(i) for i in images]), timeout=300)
        finally:
            done.set()

    thread = threading.Thread(target=call)
    thread.start()
    seen = 0.0
    for _ in range(2000):  # bounded: the call ends long before
        seen = max(seen, value(scrape(measured), "ocr_pending_work"))
        if done.is_set() or seen:
            break
    thread.join(300)
    assert seen == len(images)
    assert value(scrape(measured), "ocr_pending_work") == 0


def test_stream_frames_and_events(measured, stub) -> None:
    still = scene_png()  # the same frame six times: a still camera
    before = scrape(measured)

    def requests():
        yield ocr_pb2.StreamRecognizeRequest(config=ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_ALL))
        for sequence in range(6):
            frame = ocr_pb2.Frame(sequence=sequence, image=ocr_pb2.Image(content=still))
            yield ocr_pb2.StreamRecognizeRequest(frame=frame)

    responses = list(stub.StreamRecognize(requests(), timeout=300))
    after = scrape(measured)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    frames = [r for r in responses if r.HasField("timings")]
    assert (
        delta("ocr_stream_frames_total", result="read") + delta("ocr_stream_frames_total", result="unchanged")
        == len(frames)
        == 6
    )
    assert delta("ocr_stream_frames_total", result="unchanged") >= 1  # a still camera: later frames are unchanged
    kinds = [ocr_pb2.TextEventType.Name(e.type).removeprefix("TEXT_EVENT_TYPE_") for r in responses for e in r.events]
    for kind in ("APPEARED", "DISAPPEARED"):
        assert delta("ocr_stream_events_total", type=kind) == kinds.count(kind)
    assert delta("ocr_calls_total", method="StreamRecognize", code="OK", reason="") == 1
    assert value(after, "ocr_open_streams") == 0


def test_document_pages_by_text_source(measured, stub) -> None:
    from tests.edge_runtime.document.pdfs import Picture, Text, make_pdf, scan

    typed = [Text("Minutes of the meeting", 72, 700)]
    scanned = [Picture(scan("AGENDA ITEM 4", size=(900, 200)), 72, 500, 450, 100)]
    data = make_pdf([typed, scanned, typed])
    before = scrape(measured)

    def requests():
        yield ocr_pb2.RecognizeDocumentRequest(options=ocr_pb2.DocumentOptions())
        yield ocr_pb2.RecognizeDocumentRequest(chunk=data)

    responses = list(stub.RecognizeDocument(requests(), timeout=300))
    after = scrape(measured)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert [ocr_pb2.TextSource.Name(r.page.text_source) for r in responses] == [
        "TEXT_SOURCE_TEXT_LAYER",
        "TEXT_SOURCE_OCR",
        "TEXT_SOURCE_TEXT_LAYER",
    ]
    assert delta("ocr_document_pages_total", source="text_layer") == 2
    assert delta("ocr_document_pages_total", source="ocr") == 1
    assert delta("ocr_document_page_duration_seconds_count", source="ocr") == 1
    ocr_seconds = delta("ocr_document_page_duration_seconds_sum", source="ocr")
    assert ocr_seconds == pytest.approx(responses[1].page.timings.total_ms / 1000.0)
    assert delta("ocr_calls_total", method="RecognizeDocument", code="OK", reason="") == 1


def test_label_values_stay_bounded(measured, stub) -> None:
    """However many different images and request ids come in, the label sets do not grow with them."""
    for i in range(5):
        with pytest.raises(grpc.RpcError):
            stub.Recognize(request(f"junk {i}".encode()), metadata=(("x-request-id", f"req-{i}"),), timeout=60)
    samples = scrape(measured)
    allowed = {
        "method",
        "code",
        "reason",
        "stage",
        "result",
        "type",
        "le",
        "version",
        "bundle",
        "backend",
        "device",
        "precision_det",
        "precision_cls",
        "precision_rec",
        "source",
        "state",  # ocr_model_optimize_state: one of server.model_status.OPTIMIZE_STATES
    }
    for name, series in samples.items():
        if not name.startswith("ocr_"):
            continue
        for labels in series:
            keys = {k for k, _ in labels}
            assert keys <= allowed, (name, keys)
            assert not any("req-" in str(v) or "junk" in str(v) for _, v in labels), (name, labels)


def test_json_log_lines_carry_the_calls_request_id(measured, stub) -> None:
    """An INTERNAL error is logged (with its traceback) inside the call: its JSON line names the request id the
    client got back in the trailing metadata."""
    from server.logs import JsonFormatter, RequestIdFilter

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("server.errors")
    logger.addHandler(handler)
    plane = measured.plane
    original = plane.recognize

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    plane.recognize = broken
    try:
        with pytest.raises(grpc.RpcError) as failed:
            stub.Recognize(request(word_pngs(1)[0], skip=True), metadata=(("x-request-id", "trace-me-42"),), timeout=60)
    finally:
        plane.recognize = original
        logger.removeHandler(handler)
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert dict(failed.value.trailing_metadata())["x-request-id"] == "trace-me-42"
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert lines and lines[0]["request_id"] == "trace-me-42" and lines[0]["level"] == "ERROR"
    assert "RuntimeError: a bug" in lines[0]["exception"]
