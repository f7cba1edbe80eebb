"""Many cameras on one server: turns between streams, admission per frame of work, deadlines."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from clients.ocr_client import OcrCallError, OcrClient
from clients.ocr_client.pb import ocr_pb2
from edge_runtime.stream.sources import encode_jpeg
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine
from tests.server.images import scene_png
from tests.stream import stream_videos

SLOTS = 2  # max_concurrent_rpcs: admission slots, and streams open at once
CONFIG = ServerConfig(host="127.0.0.1", port=0, max_message_bytes=4 * 1024 * 1024, max_concurrent_rpcs=SLOTS)


@pytest.fixture(scope="module")
def served():
    server = ServerThread(get_engine, CONFIG)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(served):
    with OcrClient(served.target, timeout=120) as c:
        yield c


def frame_request(sequence: int, image) -> ocr_pb2.StreamRecognizeRequest:
    frame = ocr_pb2.Frame(sequence=sequence, image=ocr_pb2.Image(content=encode_jpeg(image)))
    frame.capture_time.GetCurrentTime()
    return ocr_pb2.StreamRecognizeRequest(frame=frame)


class Camera:
    """A stream fed from a thread: ``send`` one frame, or flood until ``stop``."""

    def __init__(self, client, config: ocr_pb2.StreamConfig, timeout: float | None = None) -> None:
        self.stop = threading.Event()
        self._queue: list = []
        self._ready = threading.Condition()
        self._closed = False
        self.call = client.stub.StreamRecognize(self._requests(config), timeout=timeout)

    def _requests(self, config):
        yield ocr_pb2.StreamRecognizeRequest(config=config)
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait(0.05)
                if not self._queue:
                    return
                request = self._queue.pop(0)
            yield request

    def send(self, request) -> None:
        with self._ready:
            self._queue.append(request)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()


def wait_until(condition, limit: float = 60.0) -> bool:
    """Polls ``condition`` (a safety net against hanging, not a timing assertion)."""
    end = time.monotonic() + limit
    while not condition() and time.monotonic() < end:
        time.sleep(0.02)
    return condition()


def test_a_flooding_camera_does_not_starve_a_slow_one(client, served):
    """One stream sends changing frames as fast as the server takes them (ALL), the other one frame at a time,
    waiting for each answer. Every slow frame is answered, and while each waited for its turn the server ran
    at most one frame of the flood (two streams take turns one frame at a time)."""
    flood_frames = stream_videos.noisy_jitter(n=8).frames  # every frame differs: every frame runs the models
    slow_frames = stream_videos.static_sign(n=6).frames
    stop = threading.Event()

    def flood():
        yield ocr_pb2.StreamRecognizeRequest(config=ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_ALL))
        sequence = 0
        while not stop.is_set():
            yield frame_request(sequence, flood_frames[sequence % len(flood_frames)])
            sequence += 1

    flood_call = client.stub.StreamRecognize(flood())
    flooded = []

    def read():
        try:
            for response in flood_call:
                flooded.append(response)
        except grpc.RpcError:  # cancelled at the end of the test
            pass

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert wait_until(lambda: len(flooded) >= 2)
        flooded_before = len(flooded)
        slow = Camera(client, ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_ALL))
        answers = []
        for sequence, image in enumerate(slow_frames):
            slow.send(frame_request(sequence, image))
            answers.append(next(slow.call))  # one frame at a time: the next goes once this one is answered
        slow.close()
        answers += list(slow.call)
        flooded_during = len(flooded) - flooded_before
    finally:
        stop.set()
        flood_call.cancel()
        reader.join(60)
    frames = [r for r in answers if not r.final]
    assert [r.sequence for r in frames] == list(range(len(slow_frames)))
    assert not any(r.HasField("error") for r in frames)
    assert max(r.frames_ahead for r in frames) <= 1
    assert flooded_during >= 1  # the flood went on meanwhile: the two took turns


def test_open_streams_hold_no_admission_slot(client, served):
    """Both slots' worth of streams open and idle: a unary call is still admitted; one stream more is not."""
    image = stream_videos.static_sign(n=1).frames[0]
    cameras = [Camera(client, ocr_pb2.StreamConfig()) for _ in range(SLOTS)]
    try:
        for camera in cameras:
            camera.send(frame_request(0, image))
            assert not next(camera.call).HasField("error")
        assert served.plane.open_streams == SLOTS and served.plane.active_calls == 0
        assert client.recognize(scene_png()).image_width  # before: RESOURCE_EXHAUSTED, the streams held every slot
        extra = Camera(client, ocr_pb2.StreamConfig())
        extra.close()
        with pytest.raises(grpc.RpcError) as info:
            list(extra.call)
        error = OcrCallError.from_rpc_error(info.value)
        assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED")
    finally:
        for camera in cameras:
            camera.close()
            list(camera.call)
    assert wait_until(lambda: served.plane.open_streams == 0)


def test_a_frame_refused_a_slot_fails_alone(client, served):
    """While every admission slot is taken by other work, a frame is answered RESOURCE_EXHAUSTED / OVERLOADED
    and the stream goes on."""
    image = stream_videos.static_sign(n=1).frames[0]
    camera = Camera(client, ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_ALL))
    plane = served.plane
    try:
        camera.send(frame_request(0, image))
        assert not next(camera.call).HasField("error")
        for _ in range(SLOTS):  # what SLOTS unary calls in flight hold
            plane._take_slot("test")
        try:
            camera.send(frame_request(1, image))
            refused = next(camera.call)
        finally:
            for _ in range(SLOTS):
                plane._give_slot()
        camera.send(frame_request(2, image))
        after = next(camera.call)
    finally:
        camera.close()
        rest = list(camera.call)
    assert refused.sequence == 1 and refused.error.reason == "OVERLOADED"
    assert refused.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert after.sequence == 2 and not after.HasField("error") and {line.text for line in after.lines}
    assert rest and rest[-1].final


def test_frames_past_the_deadline_are_not_computed(client, served):
    """A flooding stream with a short deadline: the call ends DEADLINE_EXCEEDED, its waiting frames are
    discarded, and it leaves nothing behind in the scheduler or admission."""
    frames = stream_videos.noisy_jitter(n=8).frames
    stop = threading.Event()

    def flood():
        yield ocr_pb2.StreamRecognizeRequest(config=ocr_pb2.StreamConfig(flow_control=ocr_pb2.FLOW_CONTROL_ALL))
        sequence = 0
        while not stop.is_set():
            yield frame_request(sequence, frames[sequence % len(frames)])
            sequence += 1

    answered = []
    with pytest.raises(grpc.RpcError) as info:
        for response in client.stub.StreamRecognize(flood(), timeout=3):
            answered.append(response)
    stop.set()
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    plane = served.plane
    assert wait_until(lambda: plane.open_streams == 0 and plane.active_calls == 0)
    stats = plane.streams.stats()
    assert (stats.pending, stats.running) == (0, 0)
    started = stats.started
    time.sleep(0.5)  # nothing of that stream is left to start
    assert plane.streams.stats().started == started
