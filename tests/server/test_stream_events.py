"""StreamRecognize through a real server: tracks and events, flow control, config errors, cancellation, CLI."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import grpc
import pytest

from clients.ocr_client import OcrCallError
from edge_runtime.stream.sources import encode_jpeg
from server.pb import ocr_pb2
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
    return [(EVENT.Name(e.type).removeprefix("TEXT_EVENT_TYPE_"), e.text, e.track_id, r.sequence)
            for r in responses for e in r.events]


def test_each_text_is_reported_once(client):
    scene = stream_videos.appear_disappear()
    config = ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_ALL)
    responses = list(client.stub.StreamRecognize(requests(config, scene.frames), timeout=600))
    assert [r.sequence for r in responses[:-1]] == list(range(len(scene.frames)))
    assert responses[-1].sequence == len(scene.frames) - 1 and not responses[-1].lines  # the end-of-stream flush
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


def test_latest_only_drops_frames_a_busy_server_cannot_take(client):
    scene = stream_videos.noisy_jitter(n=16)  # every frame differs: every frame runs the models
    config = ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_LATEST_ONLY)
    responses = list(client.stub.StreamRecognize(requests(config, scene.frames), timeout=600))
    frames = [r for r in responses if r.HasField("timings")]
    dropped = frames[-1].frames_dropped
    assert dropped > 0 and len(frames) + dropped == len(scene.frames)
    assert frames[-1].sequence == len(scene.frames) - 1
    assert Counter(text for k, text, _, _ in events_of(responses) if k == "APPEARED") <= Counter(scene.texts)


def test_negative_config_is_refused(client):
    config = ocr_pb2.StreamConfig(queue_size=-1)
    with pytest.raises(grpc.RpcError) as info:
        list(client.stub.StreamRecognize(requests(config, []), timeout=60))
    error = OcrCallError.from_rpc_error(info.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "STREAM_CONFIG_INVALID")


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
    config = ocr_pb2.StreamConfig(options=ocr_pb2.RecognizeOptions(skip_detection=True),
                                  flow_control=ocr_pb2.FLOW_CONTROL_QUEUE, queue_size=5, change_threshold=7.5,
                                  reread_every_frames=9, box_change_threshold=0.4, stable_after_frames=11,
                                  disappear_after_frames=6)
    s = settings_of(config, defaults)
    assert (s.mode, s.queue_size, s.change_threshold, s.skip_detection) == (FlowMode.QUEUE, 5, 7.5, True)
    assert (s.reread_every, s.refresh_every, s.stable_after, s.disappear_after) == (9, 9, 11, 6)
    assert s.match_iou == pytest.approx(0.4)  # float32 on the wire
    assert s.match_iou <= s.strong_iou
