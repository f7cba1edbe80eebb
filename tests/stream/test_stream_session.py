"""End to end on generated clips with the real models: each distinct text is reported once, errors stay per frame."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict

import numpy as np
import pytest

from edge_runtime.stream import EventType, FlowMode, Frame, StreamSettings, run_stream
from edge_runtime.stream.sources import VideoSource, encode_jpeg
from edge_runtime.types import RawImage

ALL = StreamSettings(mode=FlowMode.ALL)


def run_clip(engine, path, settings=ALL):
    return list(run_stream(engine, VideoSource(path), settings))


def events_of(results):
    return [e for r in results for e in r.events]


def assert_once_each(results, texts):
    """Every expected text APPEARED exactly once and DISAPPEARED exactly once, on the same track, in order."""
    events = events_of(results)
    appeared = Counter(e.text for e in events if e.type is EventType.APPEARED)
    disappeared = Counter(e.text for e in events if e.type is EventType.DISAPPEARED)
    assert appeared == Counter(texts), [(e.type.value, e.text, e.sequence) for e in events]
    assert disappeared == Counter(texts), [(e.type.value, e.text, e.sequence) for e in events]
    by_track = defaultdict(list)
    for e in events:
        by_track[e.track_id].append(e.type)
    for track, kinds in by_track.items():
        assert kinds[0] is EventType.APPEARED and kinds[-1] is EventType.DISAPPEARED, (track, kinds)
        assert kinds.count(EventType.APPEARED) == kinds.count(EventType.DISAPPEARED) == 1
    assert results[-1].final and not any(r.error for r in results)
    return events


@pytest.mark.parametrize("name", ["static", "appear", "noisy", "cut"])
def test_each_distinct_text_appears_once_and_disappears_once(engine, clips, name):
    scene, path = clips[name]
    results = run_clip(engine, path)
    assert [r.sequence for r in results[:-1]] == list(range(len(scene.frames)))  # ALL: lossless
    events = assert_once_each(results, scene.texts)
    assert not [e for e in events if e.type is EventType.UPDATED]
    stable = Counter(e.text for e in events if e.type is EventType.STABLE)
    assert stable == Counter(scene.texts)
    frames = results[:-1]
    if name == "static":  # unchanged frames run no model at all
        assert sum(not r.skipped for r in frames) == 1 and sum(r.lines_read for r in frames) == 2
        for line in frames[-1].lines:  # word boxes of the reused reading, inside the line's box
            assert " ".join(w.text for w in line.words) == line.text
            xs = [x for x, _ in line.polygon]
            assert all(min(xs) - 1 <= x <= max(xs) + 1 for w in line.words for x, _ in w.polygon)
    if name == "noisy":  # noise and shake: detection runs, recognition mostly reuses the last reading
        assert sum(r.lines_read for r in frames) < 0.75 * 2 * len(frames)
        assert all(len(r.lines) == 2 for r in frames[1:])
    if name == "appear":
        gone = {e.text: e.sequence for e in events if e.type is EventType.DISAPPEARED}
        came = {e.text: e.sequence for e in events if e.type is EventType.APPEARED}
        assert 4 <= came["EXIT"] <= 6 and 16 <= gone["EXIT"] <= 19 and 10 <= came["GATE B12"] <= 12
    if name == "cut":
        gone = {e.text: e.sequence for e in events if e.type is EventType.DISAPPEARED}
        assert gone["MAIN STREET"] == 12  # at the cut, not disappear_after frames later


def test_scrolling_ticker(engine, clips):
    scene, path = clips["ticker"]
    results = run_clip(engine, path)
    events = events_of(results)
    appeared = [e for e in events if e.type is EventType.APPEARED]
    assert Counter(e.text for e in appeared) == Counter(scene.texts), [(e.type.value, e.text) for e in events]
    assert not [e for e in events if e.type is EventType.UPDATED]  # no partial words while entering or leaving
    for e in appeared:  # reported once fully in view
        xs = [x for x, _ in e.polygon]
        assert min(xs) > 0 and max(xs) < 639
    disappeared = Counter(e.text for e in events if e.type is EventType.DISAPPEARED)
    assert disappeared == Counter(scene.texts)
    first_word_gone = [e for e in events if e.type is EventType.DISAPPEARED and e.text == "BREAKING NEWS"][0]
    assert first_word_gone.sequence != results[-1].sequence  # left the view before the clip ended


def test_price_change_is_one_update_and_a_blurred_frame_is_not(engine, clips):
    scene, path = clips["price"]
    misread = engine.recognize(scene.frames[8])
    assert {line.text for line in misread.lines} != {"DIESEL", "1.799"}  # the blur does fool a single frame
    results = run_clip(engine, path)
    events = events_of(results)
    updates = [(e.previous_text, e.text, e.sequence) for e in events if e.type is EventType.UPDATED]
    assert [(a, b) for a, b, _ in updates] == [("1.799", "1.859")] and 14 <= updates[0][2] <= 16
    assert Counter(e.text for e in events if e.type is EventType.APPEARED) == Counter({"DIESEL": 1, "1.799": 1})
    assert sorted(e.text for e in events if e.type is EventType.DISAPPEARED) == ["1.859", "DIESEL"]


def test_bad_frames_get_an_error_and_the_stream_goes_on(engine, clips):
    scene, _ = clips["static"]
    good = scene.frames[0]
    frames = [
        Frame(good, 0, 1.0),
        Frame(b"not an image", 1, 2.0),
        Frame(RawImage(b"\0" * 10, 64, 64), 2, 3.0),
        Frame(encode_jpeg(good), 3, 4.0),
        Frame(np.zeros((2, 2, 3), np.uint8), 4, 5.0),
        Frame(RawImage(good.tobytes(), good.shape[1], good.shape[0]), 5, 6.0),
    ]
    results = list(run_stream(engine, frames, ALL))
    assert [r.sequence for r in results[:-1]] == [0, 1, 2, 3, 4, 5]
    reasons = [r.error.reason if r.error else None for r in results[:-1]]
    assert reasons == [None, "IMAGE_UNDECODABLE", "RAW_SIZE_MISMATCH", None, "IMAGE_TOO_SMALL", None]
    assert [r.capture_time for r in results[:-1]] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert assert_once_each([r for r in results if not r.error], scene.texts)


def paced(frames, fps, count):
    """A camera: frame i is ready at i / fps, whether or not anyone is reading."""
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i / fps - time.monotonic()))
        yield Frame(frames[i % len(frames)], i, time.time())


@pytest.mark.parametrize("mode", [FlowMode.LATEST_ONLY, FlowMode.QUEUE, FlowMode.ALL])
def test_slow_consumer(engine, clips, mode):
    scene, _ = clips["static"]
    count = 40
    settings = StreamSettings(mode=mode, queue_size=4)
    results = []
    for result in run_stream(engine, paced(scene.frames, 100.0, count), settings):
        results.append(result)
        time.sleep(0.05)  # the consumer can do ~20 frames/s against a 100 frames/s camera
    frames, final = results[:-1], results[-1]
    dropped = frames[-1].frames_dropped
    assert sum(r.dropped_since_last for r in frames) == dropped
    assert len(frames) + dropped == count
    if mode is FlowMode.ALL:
        assert dropped == 0 and [r.sequence for r in frames] == list(range(count))
    else:
        assert dropped > count // 2
        assert frames[-1].sequence == count - 1  # the newest frame is never the one dropped
        assert all(a.sequence < b.sequence for a, b in itertools.pairwise(frames))
    if mode is FlowMode.LATEST_ONLY:  # a dropped frame never waits for more than one processing time
        assert max(r.queue_wait_ms for r in frames) < 1000
    assert final.final and assert_once_each(results, scene.texts)


def test_skip_detection_reads_each_frame_as_one_line_like_the_engine(engine, clips):
    scene, _ = clips["price"]
    line = np.ascontiguousarray(scene.frames[0][85:145, 70:330])  # "DIESEL", cut out
    other = np.ascontiguousarray(scene.frames[-1][85:145, 350:520])  # "1.859"
    frames = [Frame(img, i, float(i)) for i, img in enumerate([line, line, other, other, other])]
    results = list(run_stream(engine, frames, StreamSettings(mode=FlowMode.ALL, skip_detection=True)))
    expected = [engine.recognize(img, skip_detection=True).text for img in (line, other)]
    assert [[line.text for line in r.lines] for r in results[:-1]] == [[expected[0]]] * 2 + [[expected[1]]] * 3
    assert [(e.type, e.text) for e in events_of(results) if e.type is not EventType.STABLE] == [
        (EventType.APPEARED, expected[0]),
        (EventType.DISAPPEARED, expected[0]),
        (EventType.APPEARED, expected[1]),
        (EventType.DISAPPEARED, expected[1]),
    ]
