"""A real camera's faults on generated clips, with the real models: shake, a slow pan, an exposure ramp,
motion blur and a passing occluder, JPEG artefacts, a plate driving through. Identities hold, each text is
reported once, and the detector runs only where something changed."""

from __future__ import annotations

from collections import Counter

import pytest

from edge_runtime.stream import EventType, FlowMode, StreamSession, StreamSettings, run_stream
from edge_runtime.stream.sources import VideoSource

ALL = StreamSettings(mode=FlowMode.ALL)


def run_clip(engine, path):
    session = StreamSession(engine, ALL)
    return list(run_stream(engine, VideoSource(path), ALL, session=session)), session


@pytest.mark.parametrize("name", ["shaken", "pan", "exposure", "occluded", "plate"])
def test_each_text_keeps_one_track_through_camera_faults(engine, clips, name):
    scene, path = clips[name]
    results, session = run_clip(engine, path)
    frames = results[:-1]
    assert len(frames) == len(scene.frames) and not any(r.error for r in results)
    events = [e for r in results for e in r.events]
    trace = [(e.type.value, e.track_id, e.text, e.sequence) for e in events]
    assert Counter(e.text for e in events if e.type is EventType.APPEARED) == Counter(scene.texts), trace
    # no DISAPPEARED / APPEARED churn: lines leave at the end-of-stream flush, except the plate that drove out
    early = [e.text for r in frames for e in r.events if e.type is EventType.DISAPPEARED]
    assert early == (["KD 4821"] if name == "plate" else []), trace
    tracks = {e.text: e.track_id for e in events if e.type is EventType.APPEARED}
    assert {e.track_id for e in events} == set(tracks.values()), trace
    if name != "occluded":  # a pole sliding over a sign still makes it misread (README: still weak)
        assert not [e for e in events if e.type is EventType.UPDATED], trace
    if name in ("shaken", "exposure", "pan"):
        detected = [r.sequence for r in frames if r.detected_area > 0]
        assert len(detected) <= len(frames) / 4, detected
        assert sum(r.detected_area for r in frames) <= 0.1 * len(frames)
        assert session.lines_read <= len(frames) / 4


def test_pan_moves_the_boxes_with_the_view(engine, clips):
    scene, path = clips["pan"]
    results, _ = run_clip(engine, path)
    frames = [r for r in results[:-1] if r.lines]
    first, last = frames[0], frames[-1]
    by_id = {line.track_id: line for line in first.lines}
    moved = [
        min(x for x, _ in line.polygon) - min(x for x, _ in by_id[line.track_id].polygon)
        for line in last.lines
        if line.track_id in by_id
    ]
    camera = 2.5 * (last.sequence - first.sequence)  # the view moves right: the content moves left
    assert moved and all(abs(m + camera) < 6 for m in moved), (moved, camera)


def test_the_moving_plate_is_read_while_the_shaking_sign_is_not_detected_again(engine, clips):
    scene, path = clips["plate"]
    results, session = run_clip(engine, path)
    frames = results[:-1]
    whole = sum(r.detected_area >= 1.0 for r in frames)
    assert whole <= 4  # the first frame, and a few where the car's region is most of the frame
    assert sum(r.detected_area for r in frames) < 0.5 * len(frames)
    plate = [line for r in frames for line in r.lines if line.text == "KD 4821"]
    assert len({line.track_id for line in plate}) == 1 and len(plate) >= 10
