"""Video sources: files read losslessly or paced, newest-frame-wins, reconnect with backoff, JPEG frames."""

from __future__ import annotations

import itertools
import threading
import time

import cv2
import numpy as np
import pytest

from edge_runtime.stream.sources import Backoff, SourceError, VideoSource, encode_jpeg, is_live, parse_source


def test_parse_and_kind():
    assert parse_source("0") == 0 and parse_source(" 2 ") == 2 and parse_source("clip.mp4") == "clip.mp4"
    assert is_live(0) and is_live("rtsp://cam/1") and is_live("http://cam/mjpg") and not is_live("clip.mp4")


def test_a_file_is_read_frame_by_frame(clips):
    scene, path = clips["appear"]
    with VideoSource(path) as source:
        frames = list(source)
    assert [f.sequence for f in frames] == list(range(len(scene.frames)))
    assert frames[0].image.shape == scene.frames[0].shape
    assert all(a.capture_time <= b.capture_time for a, b in itertools.pairwise(frames))


def test_jpeg_frames_for_the_wire(clips):
    _, path = clips["appear"]
    with VideoSource(path, encode="jpeg", max_frames=3) as source:
        frames = list(source)
    assert len(frames) == 3 and all(isinstance(f.image, bytes) and f.image[:2] == b"\xff\xd8" for f in frames)
    assert cv2.imdecode(np.frombuffer(frames[0].image, np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)
    assert encode_jpeg(np.zeros((8, 8, 3), np.uint8))[:2] == b"\xff\xd8"


def test_a_paced_file_behaves_like_a_camera_newest_frame_wins(clips):
    scene, path = clips["appear"]  # 26 frames at 10 fps: 2.6 s
    got = []
    with VideoSource(path, pace=True) as source:
        for frame in source:
            got.append(frame.sequence)
            time.sleep(0.35)  # a slow reader
    assert got[-1] == len(scene.frames) - 1 or got[-1] >= len(scene.frames) - 4
    assert len(got) < len(scene.frames) // 2 and source.frames_overwritten > 0
    assert got == sorted(got)


def test_a_missing_file_fails_with_a_reason(tmp_path):
    with pytest.raises(SourceError) as err:
        list(VideoSource(tmp_path / "missing.avi"))
    assert err.value.reason == "SOURCE_UNAVAILABLE"


class FlakyCamera:
    """A network camera: sessions[i] frames per connection; 0 means the connection cannot be opened."""

    def __init__(self, sessions: list[int]) -> None:
        self.sessions, self.opened, self.opens = list(sessions), 0, []

    def __call__(self, url):
        self.opens.append(time.monotonic())
        frames = self.sessions.pop(0) if self.sessions else 0
        return _Capture(frames)


class _Capture:
    def __init__(self, frames: int) -> None:
        self.frames = frames

    def isOpened(self):  # noqa: N802 (cv2.VideoCapture's name, which the source calls)
        return self.frames > 0

    def get(self, prop):
        return 25.0

    def read(self):
        if self.frames <= 0:
            return False, None
        self.frames -= 1
        time.sleep(0.002)
        return True, np.full((48, 64, 3), self.frames % 256, np.uint8)

    def release(self):
        pass


def test_a_dropped_network_camera_is_reopened_with_backoff():
    camera = FlakyCamera([5, 0, 0, 4])  # drops after 5 frames, two failed reconnects, then 4 more frames
    source = VideoSource("rtsp://cam.local/stream", open_capture=camera, backoff=Backoff(0.02, 0.1), max_reconnects=3)
    got = []
    with pytest.raises(SourceError):
        for frame in source:  # a slow-ish consumer still sees the newest frames of both connections
            got.append(frame.sequence)
    assert source.reconnects == 1 and len(camera.opens) == 1 + 2 + 1 + 4  # then it gives up
    gaps = np.diff(camera.opens[1:4])
    assert gaps[1] > gaps[0] * 1.5  # exponential backoff
    assert got == sorted(got) and got[-1] == 8 and len(set(got)) == len(got)


def test_close_from_another_thread_ends_a_waiting_consumer():
    camera = FlakyCamera([10**9])  # never ends
    source = VideoSource(0, open_capture=camera)
    got = []

    def consume():
        for frame in source:
            got.append(frame)

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.1)
    source.close()
    thread.join(2)
    assert not thread.is_alive() and got
    assert not source._thread.is_alive()
