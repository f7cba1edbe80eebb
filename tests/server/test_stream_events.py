"""StreamRecognize through a real server: tracks and events, flow control, config errors, cancellation, CLI."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import grpc
import pytest

from clients.ocr_client import OcrCallError
from clients.ocr_client.pb import ocr_pb2
from edge_runtime.stream.sources import encode_jpeg
from tests.stream import stream_videos

EVENT = ocr_pb2.TextEventType


def requests(config, frames, pause: float = 0.0):
    yield ocr_pb2.StreamRecognizeRequest(config=config)
    for sequence, image in enumerate(frames):
        frame = ocr_pb2.Frame(sequence=sequence, image=ocr_pb2.Image(content=encode_jpeg(image)))
        frame.capture_time.GetCurrentTime()
        yield ocr_pb2.StreamRecognizeRequest(frame=frame)
        if pause:
            time.sleep(pause)


def events_of(responses):
    return [
        (EVENT.Name(e.type).removeprefix("TEXT_EVENT_TYPE_"), e.text, e.track_id, r.sequence)
        for r in responses
        for e in r.events
    ]


def test_each_text_is_reported_once(client):
    scene = stream_videos.appear_disappear()
    config = ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_ALL)
    responses = list(client.stub.StreamRecognize(requests(config, scene.frames), timeout=600))
    assert [r.sequence for r in responses[:-1]] == list(range(len(scene.frames)))
    assert responses[-1].sequence == len(scene.frames) - 1 and not responses[-1].lines  # the end-of-stream flush
    assert responses[-1].final and not any(r.final for r in responses[:-1])
    assert responses[0].detected_area == pytest.approx(1.0)  # the first frame is searched whole
    assert any(r.detected_area == 0 for r in responses[:-1])  # unchanged frames run no detector
    events = events_of(responses)
    for kind in ("APPEARED", "DISAPPEARED", "STABLE"):
        assert Counter(text for k, text, _, _ in events if k == kind) == Counter(scene.texts), events
    exit_events = [(k, seq) for k, text, _, seq in events if text == "EXIT"]
    assert exit_events[-1][0] == "DISAPPEARED" and exit_events[-1][1] < len(scene.frames) - 1
    assert len({track for _, text, track, _ in events if text == "EXIT"}) == 1
    assert all(r.frames_dropped == 0 and not r.HasField("error") for r in responses)
    middle = responses[12]
    assert {line.text for line in middle.lines} == {"EXIT", "GATE B12"} and middle.timings.total_ms > 0
    assert {" ".join(w.text for w in line.words) for line in middle.lines} == {"EXIT", "GATE B12"}
    track_of = {text: track for kind, text, track, _ in events if kind == "APPEARED"}
    assert {line.text: line.track_id for line in middle.lines} == {t: track_of[t] for t in ("EXIT", "GATE B12")}
    appeared = [e for r in responses for e in r.events if e.type == EVENT.TEXT_EVENT_TYPE_APPEARED]
    assert all(e.candidates[0].text == e.text and e.candidates[0].accepted for e in appeared)


def test_latest_only_drops_frames_a_busy_server_cannot_take(client):
    scene = stream_videos.noisy_jitter(n=16)  # every frame differs: every frame runs the models
    config = ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_LATEST_ONLY)
    responses = list(client.stub.StreamRecognize(requests(config, scene.frames), timeout=600))
    frames = [r for r in responses if r.HasField("timings")]
    dropped = frames[-1].frames_dropped
    assert dropped > 0 and len(frames) + dropped == len(scene.frames)
    assert frames[-1].sequence == len(scene.frames) - 1
    assert Counter(text for k, text, _, _ in events_of(responses) if k == "APPEARED") <= Counter(scene.texts)


@pytest.mark.parametrize(
    "config, reason",
    [
        (ocr_pb2.StreamConfig(queue_size=-1), "STREAM_CONFIG_INVALID"),
        (ocr_pb2.StreamConfig(text_patterns=["[A-Z]{2} ?[0-9]{4}", "(unclosed"]), "TEXT_PATTERN_INVALID"),
        (ocr_pb2.StreamConfig(text_patterns=["a" * 300]), "TEXT_PATTERN_INVALID"),
        (ocr_pb2.StreamConfig(text_checks=[7]), "TEXT_CHECK_UNKNOWN"),  # a number this server does not know
    ],
)
def test_bad_config_is_refused(client, config, reason):
    with pytest.raises(grpc.RpcError) as info:
        list(client.stub.StreamRecognize(requests(config, []), timeout=60))
    error = OcrCallError.from_rpc_error(info.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)


def test_cancelled_streams_release_their_slot(client, served):
    scene = stream_videos.static_sign(n=4)
    config = ocr_pb2.StreamConfig()
    stop = threading.Event()

    def endless():
        yield ocr_pb2.StreamRecognizeRequest(config=config)
        sequence = 0
        while not stop.is_set():
            frame = ocr_pb2.Frame(sequence=sequence, image=ocr_pb2.Image(content=encode_jpeg(scene.frames[0])))
            yield ocr_pb2.StreamRecognizeRequest(frame=frame)
            sequence += 1
            time.sleep(0.01)

    for _ in range(5):
        call = client.stub.StreamRecognize(endless())
        assert next(call).sequence >= 0
        call.cancel()
    stop.set()
    deadline = time.monotonic() + 30
    while served.plane.active_calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served.plane.active_calls == 0


def test_cli_streams_to_the_server(served, tmp_path, capsys):
    from edge_runtime.stream.cli import main

    scene = stream_videos.appear_disappear()
    clip = stream_videos.write_video(scene, tmp_path / "appear.avi")
    assert main(["--source", str(clip), "--server", served.target, "--jpeg"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for kind in ("APPEARED", "DISAPPEARED"):
        assert Counter(r["text"] for r in records if r.get("event") == kind) == Counter(scene.texts)


def test_config_fields_map_onto_stream_settings():
    from edge_runtime.stream import FlowMode, StreamSettings
    from server.stream import settings_of

    defaults = StreamSettings()
    assert settings_of(ocr_pb2.StreamConfig(), defaults) == defaults  # zeros: the server's defaults
    config = ocr_pb2.StreamConfig(
        options=ocr_pb2.RecognizeOptions(skip_detection=True),
        flow_control=ocr_pb2.FLOW_CONTROL_QUEUE,
        queue_size=5,
        change_threshold=7.5,
        reread_every_frames=9,
        box_change_threshold=0.4,
        stable_after_frames=11,
        disappear_after_frames=6,
    )
    s = settings_of(config, defaults)
    assert (s.mode, s.queue_size, s.change_threshold, s.skip_detection) == (FlowMode.QUEUE, 5, 7.5, True)
    assert (s.reread_every, s.refresh_every, s.stable_after, s.disappear_after) == (9, 9, 11, 6)
    assert s.match_iou == pytest.approx(0.4)  # float32 on the wire
    assert s.match_iou <= s.strong_iou
    assert (s.text_patterns, s.text_checks) == ((), ())
    config = ocr_pb2.StreamConfig(
        text_patterns=[r"[A-Z]{2} ?[0-9]{4}"],
        text_checks=[ocr_pb2.TEXT_CHECK_ISO6346, ocr_pb2.TEXT_CHECK_UNSPECIFIED, ocr_pb2.TEXT_CHECK_IBAN],
    )
    s = settings_of(config, defaults)
    assert (s.text_patterns, s.text_checks) == ((r"[A-Z]{2} ?[0-9]{4}",), ("ISO6346", "IBAN"))
    only_checks = settings_of(
        ocr_pb2.StreamConfig(text_checks=[ocr_pb2.TEXT_CHECK_IBAN]), defaults.replace(text_patterns=("x",))
    )
    assert (only_checks.text_patterns, only_checks.text_checks) == ((), ("IBAN",))  # the config replaces both


def test_a_plate_pattern_reports_only_the_plate(client):
    scene = stream_videos.plate_drive_through()
    config = ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_ALL, text_patterns=[r"[A-Z]{2} ?[0-9]{4}"])
    results = list(client.stream_recognize(scene.frames, config=config))
    events = [(e.type, e.text) for r in results for e in r.events]
    assert events[0] == ("TEXT_EVENT_TYPE_APPEARED", "KD 4821") and {t for _, t in events} == {"KD 4821"}
    assert all(line.text == "KD 4821" and line.track_id for r in results for line in r.lines)
    gone = [e for r in results for e in r.events if e.type == "TEXT_EVENT_TYPE_DISAPPEARED"]
    assert [e.text for e in gone] == ["KD 4821"] and gone[0].candidates[0].accepted
