"""Tracks, fused readings and events, on synthetic detections (the engine is exercised in test_stream_session)."""

from __future__ import annotations

import numpy as np

from edge_runtime.stream.settings import StreamSettings
from edge_runtime.stream.tracking import LineReading, Tracker, box_iou, similarity
from edge_runtime.stream.types import EventType

SIZE = (640, 360)
THUMB = np.zeros((16, 64), np.float32)


def quad(x: float, y: float, w: float = 200, h: float = 40) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


class Script:
    """Readings to return for the next step, and which detections were asked for."""

    def __init__(self) -> None:
        self.asked: list[list[int]] = []
        self.texts: list[tuple[str, float]] = []

    def __call__(self, indices):
        self.asked.append(list(indices))
        return [LineReading(*self.texts[i]) for i in indices]


def step(tracker, script, sequence, boxes, texts, cut=False, thumbs=None):
    script.texts = texts
    asked = len(script.asked)
    events, lines, _ = tracker.step(sequence, boxes, script, lambda box: THUMB if thumbs is None else thumbs, SIZE, cut)
    if len(script.asked) == asked:
        script.asked.append([])  # nothing needed reading
    return events, lines


def kinds(events):
    return [(e.type, e.text) for e in events]


def test_similarity_and_iou():
    assert similarity("OPEN 24 HOURS", "open24hours") == 1.0
    assert similarity("", "x") == 0.0
    assert box_iou(np.array([[0, 0, 10, 10]], np.float32), np.array([[5, 0, 15, 10]], np.float32))[0, 0] == np.float32(
        50 / 150
    )


def test_appears_after_min_hits_then_stable_then_disappears():
    tracker, script = Tracker(StreamSettings(min_hits=2, stable_after=3, disappear_after=2)), Script()
    events, lines = step(tracker, script, 0, [quad(100, 100)], [("EXIT", 0.9)])
    assert events == [] and [(line.text, line.reported) for line in lines] == [("EXIT", False)]
    events, lines = step(tracker, script, 1, [quad(101, 100)], [("EXIT", 0.9)])
    assert kinds(events) == [(EventType.APPEARED, "EXIT")]
    assert [(line.text, line.reported) for line in lines] == [("EXIT", True)]
    assert lines[0].track_id == events[0].track_id
    events, _ = tracker.seen_again(2)
    assert events == []
    events, _ = tracker.seen_again(3)
    assert kinds(events) == [(EventType.STABLE, "EXIT")]
    events, _ = step(tracker, script, 4, [], [])
    assert events == []  # one miss is tolerated
    events, lines = step(tracker, script, 5, [], [])
    assert kinds(events) == [(EventType.DISAPPEARED, "EXIT")] and lines == []
    assert len(tracker) == 0


def test_recognition_is_reused_until_the_box_moves_or_k_frames_pass():
    settings = StreamSettings(reread_every=4, reread_move=0.25)
    tracker, script = Tracker(settings), Script()
    for seq in range(3):
        step(tracker, script, seq, [quad(100 + seq, 100)], [("EXIT", 0.9)])  # 1 px moves: reuse
    assert script.asked == [[0], [], []]
    step(tracker, script, 3, [quad(102, 100)], [("EXIT", 0.9)])
    step(tracker, script, 4, [quad(102, 100)], [("EXIT", 0.9)])
    assert script.asked[3:] == [[], [0]]  # every K-th frame
    step(tracker, script, 5, [quad(130, 100)], [("EXIT", 0.9)])
    assert script.asked[-1] == [0]  # moved by 28 px > 0.25 x 40 px line height
    changed = np.full((16, 64), 80, np.float32)
    step(tracker, script, 6, [quad(130, 100)], [("EXIT", 0.9)], thumbs=changed)
    assert script.asked[-1] == [0]  # same box, new content


def test_one_misread_frame_does_not_flip_the_text_but_a_real_change_does():
    tracker, script = Tracker(StreamSettings(reread_every=1)), Script()
    for seq in range(6):
        step(tracker, script, seq, [quad(100, 100)], [("1.799", 0.98)])
    events, lines = step(tracker, script, 6, [quad(100, 100)], [("1.709", 0.7)])
    assert events == [] and lines[0].text == "1.799"
    step(tracker, script, 7, [quad(100, 100)], [("1.799", 0.98)])
    updates = []
    for seq in range(8, 12):
        events, lines = step(tracker, script, seq, [quad(100, 100)], [("1.859", 0.97)])
        updates += [e for e in events if e.type is EventType.UPDATED]
    assert [(e.previous_text, e.text) for e in updates] == [("1.799", "1.859")]
    assert lines[0].text == "1.859" and len(tracker) == 1


def test_boxes_that_overlap_a_little_need_similar_text():
    tracker, script = Tracker(StreamSettings(match_iou=0.3, strong_iou=0.8)), Script()
    for seq in range(3):
        step(tracker, script, seq, [quad(100, 100)], [("PLATFORM 4", 0.95)])
    first = tracker.tracks[0].id
    step(tracker, script, 3, [quad(140, 100)], [("PLATFORM 4", 0.95)])  # IoU 0.67, same text: same track
    assert [t.id for t in tracker.tracks] == [first]
    step(tracker, script, 4, [quad(180, 100)], [("TICKETS", 0.95)])  # IoU 0.67, other text: a new track
    assert sorted(t.id for t in tracker.tracks) == [first, first + 1]


def test_a_cut_ends_every_track_at_once():
    tracker, script = Tracker(StreamSettings()), Script()
    for seq in range(3):
        step(tracker, script, seq, [quad(100, 100)], [("MAIN STREET", 0.95)])
    events, _ = step(tracker, script, 3, [quad(102, 100)], [("COFFEE SHOP", 0.95)], cut=True)
    assert kinds(events) == [(EventType.DISAPPEARED, "MAIN STREET")]
    events, _ = step(tracker, script, 4, [quad(102, 100)], [("COFFEE SHOP", 0.95)])
    assert kinds(events) == [(EventType.APPEARED, "COFFEE SHOP")]


def test_text_clipped_by_the_frame_edge_waits_until_fully_in_view():
    tracker, script = Tracker(StreamSettings(edge_hold=15)), Script()
    partial = [("BRE", 0.9), ("BREAKI", 0.9), ("BREAKING N", 0.9)]
    for seq, text in enumerate(partial):
        events, _ = step(tracker, script, seq, [quad(600 - 60 * seq, 300, 300)], [text])  # runs off the right edge
        assert events == []
    appeared = []
    for seq in range(3, 6):
        events, _ = step(tracker, script, seq, [quad(330 - 30 * seq, 300, 300)], [("BREAKING NEWS", 0.95)])
        appeared += events
    assert kinds(appeared) == [(EventType.APPEARED, "BREAKING NEWS")]
    leaving = [(60, "BREAKING NEWS"), (-20, "AKING NEWS"), (-100, "NG NEWS"), (-180, "NEWS")]
    for seq, (x, text) in enumerate(leaving, start=6):  # off the left edge: partial readings do not vote
        events, lines = step(tracker, script, seq, [quad(x, 300, 300)], [(text, 0.95)])
        assert [e.type for e in events if e.type is not EventType.STABLE] == []
        assert lines[0].text == "BREAKING NEWS"
    assert len(tracker) == 1


def test_finish_reports_every_shown_line_once():
    tracker, script = Tracker(StreamSettings()), Script()
    step(tracker, script, 0, [quad(100, 100), quad(100, 200)], [("A1", 0.9), ("B2", 0.9)])
    step(tracker, script, 1, [quad(100, 100), quad(100, 200)], [("A1", 0.9), ("B2", 0.9)])
    step(tracker, script, 2, [quad(100, 100), quad(100, 200), quad(300, 300)], [("A1", 0.9), ("B2", 0.9), ("NEW", 0.9)])
    events = tracker.finish(3)
    assert sorted(kinds(events)) == [(EventType.DISAPPEARED, "A1"), (EventType.DISAPPEARED, "B2")]
    assert len(tracker) == 0
