"""Text tracks across frames: box overlap + text similarity matching, fused readings and track events.

A track is one physical line of text. Its box moves with the camera's estimated global motion (``move``),
so a pan or shake keeps the track. Each processed frame its detection is matched to the track by box
overlap after that motion (checked against text similarity once it is read), recognition is reused while
the box and its content stay put, and every reading votes, weighted by confidence and decaying with age,
for the track's fused text. A track outside the regions the detector searched is carried along unchanged;
a detection that is only a part of a track's box (an occluder passing in front) keeps the track without
voting. Events are emitted from the fused text, so a client hears about each distinct text once.

With text patterns or checks (validators.py) the fused text is chosen among the readings that pass them only;
a track none of whose readings passes is followed (matching still uses its leading reading) but not reported.
Every event carries the track's candidate readings with their share of the vote, so a client sees why.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_runtime.geometry import reading_order
from edge_runtime.stream.settings import StreamSettings
from edge_runtime.stream.types import EventType, TextCandidate, TrackedLine, TrackEvent
from edge_runtime.stream.validators import TextFilter
from edge_runtime.types import Point, Word

__all__ = ["Tracker", "Track", "LineReading", "similarity", "box_iou"]


@dataclass(frozen=True)
class LineReading:
    text: str
    confidence: float
    angle: int = 0
    corners: tuple[int, int, int, int] = (0, 1, 2, 3)  # box corners as (start-top, end-top, end-bottom, start-bottom)
    words: tuple[tuple[str, float, float, float], ...] = ()  # (word, confidence, start, end) along the line


Region = Sequence[float]  # x0, y0, x1, y1 in frame pixels
ReadFn = Callable[[Sequence[int]], Sequence[LineReading]]
ThumbFn = Callable[[np.ndarray], np.ndarray]  # a box -> 16x64 gray thumbnail of this frame under it


def similarity(a: str, b: str, partial: bool = False) -> float:
    """0-1 similarity of two readings, ignoring case and spaces (OCR often splits or merges words).

    ``partial``: one reading may be a part of the other (a line cut by the frame edge), so the shared
    characters are measured against the shorter one.
    """
    a, b = "".join(a.split()).casefold(), "".join(b.split()).casefold()
    if not a or not b:
        return 0.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if partial:
        return sum(block.size for block in matcher.get_matching_blocks()) / min(len(a), len(b))
    return matcher.ratio()


def _boxes(quads: Sequence[np.ndarray]) -> np.ndarray:
    if not quads:
        return np.zeros((0, 4), np.float32)
    pts = np.stack([np.asarray(q, np.float32).reshape(4, 2) for q in quads])
    return np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of axis-aligned boxes (x0, y0, x1, y1): N x M."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)


def _line_height(quad: np.ndarray) -> float:
    return max(float(np.linalg.norm(quad[3] - quad[0])), float(np.linalg.norm(quad[2] - quad[1])), 1.0)


@dataclass(eq=False)
class Track:
    id: int
    quad: np.ndarray
    first_sequence: int
    votes: dict[str, list[float]] = field(default_factory=dict)  # text -> [decayed weight, conf sum, count]
    angle: int = 0
    corners: tuple[int, int, int, int] = (0, 1, 2, 3)
    read_quad: np.ndarray | None = None
    read_thumb: np.ndarray | None = None
    since_read: int = 0
    hits: int = 0  # frames it was seen in
    missed: int = 0  # consecutive processed frames it was not
    clipped: bool = False
    full_view: bool = False  # read at least once away from the frame edge
    last_reading: LineReading | None = None  # votes again in every frame that reuses it
    reported_text: str | None = None  # None until APPEARED
    same_text: int = 0
    stable_sent: bool = False
    read_now: bool = False
    partial: int = 0  # consecutive processed frames seen only in part (occluded)

    def vote(self, reading: LineReading, decay: float) -> None:
        for entry in self.votes.values():
            entry[0] *= decay
        # readings that differ only in spacing are one reading ("EXIT12" of a blurred frame is "EXIT 12")
        key = next((t for t in self.votes if t.replace(" ", "") == reading.text.replace(" ", "")), reading.text)
        entry = self.votes.setdefault(key, [0.0, 0.0, 0])
        entry[0] += reading.confidence
        entry[1] += reading.confidence
        entry[2] += 1
        self.angle, self.corners = reading.angle, reading.corners
        for text in [t for t, e in self.votes.items() if e[0] < 1e-3]:  # forgotten readings
            del self.votes[text]

    def fused(self, accept: Callable[[str], bool] | None = None) -> tuple[str, float]:
        """The leading reading and its mean confidence; ("", 0) before any reading counted.

        Once some reading has held for two frames, only such readings can lead: a line misread differently
        in each of several frames (an occluder sliding across it) does not take over from what it read.
        ``accept``: only readings it accepts may lead; ("", 0) when none does.
        """
        votes = self.votes if accept is None else {t: e for t, e in self.votes.items() if accept(t)}
        if not votes:
            return "", 0.0
        held = {t: e for t, e in votes.items() if e[2] >= 2} or votes
        text, (_, total, count) = max(held.items(), key=lambda kv: kv[1][0])
        return text, total / count

    def candidates(self, accept: Callable[[str], bool] | None = None, limit: int = 5) -> tuple[TextCandidate, ...]:
        """The distinct readings, highest share of the vote first."""
        weight = sum(e[0] for e in self.votes.values()) or 1.0
        ranked = sorted(self.votes.items(), key=lambda kv: -kv[1][0])
        top = ranked[:limit]
        if accept is not None and not any(accept(t) for t, _ in top):  # the reported one is always listed
            top += [kv for kv in ranked[limit:] if accept(kv[0])][:1]
        return tuple(
            TextCandidate(text, round(e[0] / weight, 4), int(e[2]), accept is None or accept(text)) for text, e in top
        )

    def frame(self) -> np.ndarray:
        """The box as (start-top, end-top, end-bottom, start-bottom) of the text, as it was last read."""
        return self.quad[list(self.corners)]

    def polygon(self) -> tuple[Point, ...]:
        return tuple((float(x), float(y)) for x, y in self.frame())

    def words(self, text: str) -> tuple[Word, ...]:
        """Word boxes of the last reading on the current box, when that reading is the fused ``text``."""
        reading = self.last_reading
        if reading is None or reading.text != text or not reading.words:
            return ()
        f = self.frame()
        out = []
        for word, confidence, start, end in reading.words:
            a, b = f[0] + (f[1] - f[0]) * start, f[0] + (f[1] - f[0]) * end
            c, d = f[3] + (f[2] - f[3]) * end, f[3] + (f[2] - f[3]) * start
            out.append(Word(word, confidence, tuple((float(x), float(y)) for x, y in (a, b, c, d))))
        return tuple(out)


class Tracker:
    """Follows text lines over the frames of one stream. Not thread-safe: one stream, one consumer.

    The fused text is a vote over *frames*: a frame whose line was not re-read (unchanged box and content,
    or an unchanged frame) votes again for the reading it reused, so a reading that holds for many frames
    outweighs one blurred frame, and a real change wins after a couple of frames.
    """

    def __init__(self, settings: StreamSettings | None = None) -> None:
        self.settings = settings or StreamSettings()
        self.filter = TextFilter.of(self.settings.text_patterns, self.settings.text_checks)
        self._accept = self.filter.accepts if self.filter else None  # None: every reading may be reported
        self._tracks: dict[int, Track] = {}
        self._order: list[int] = []  # track ids in reading order, as of the last processed frame
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._tracks)

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    # ---- per frame ----------------------------------------------------------------------------------
    def move(self, shift: tuple[float, float]) -> None:
        """The camera moved the image by ``shift`` (dx, dy) pixels since the last call: every box moves along,
        and so does the box each track was read in (its content is expected there now)."""
        if not shift[0] and not shift[1]:
            return
        d = np.asarray(shift, np.float32)
        for track in self._tracks.values():
            track.quad = track.quad + d
            if track.read_quad is not None:
                track.read_quad = track.read_quad + d

    def step(
        self,
        sequence: int,
        quads: Sequence[np.ndarray],
        read: ReadFn,
        thumb: ThumbFn,
        frame_size: tuple[int, int],
        cut: bool = False,
        searched: Sequence[Region] | None = None,
        changed: Sequence[Region] = (),
    ) -> tuple[list[TrackEvent], list[TrackedLine], int]:
        """A processed frame: detections (reading order) -> events, lines, number of lines read.

        ``read(indices)`` recognizes the detections at those indices; it is called at most once per frame,
        with only the detections whose track cannot reuse its last reading. ``thumb(box)`` is this frame
        under a box, compared with the same box at the last reading to tell whether the content changed.
        ``searched``: the regions the detector ran on (None: the whole frame); a track outside all of them
        was not looked for, so it is carried as seen again (or missing again) rather than missed.
        ``changed``: where the frame changed; a line that stayed put under a change much taller than itself
        (someone walking past) is read, but the reading does not vote: it saw the line partly covered.
        """
        s = self.settings
        width, height = frame_size
        everything = list(self._tracks.values())
        tracks = [t for t in everything if searched is None or any(_overlaps(_boxes([t.quad])[0], r) for r in searched)]
        scope = {t.id for t in tracks}
        det_boxes = _boxes(quads)
        # a detection that is only a part of an established track's box: that line, partly covered
        fragment_of: dict[int, int] = {}
        if not cut:
            for j in range(len(quads)):
                for ti, track in enumerate(tracks):
                    if (
                        track.votes
                        and track.partial < s.occlusion_hold
                        and _part_of(det_boxes[j], _boxes([track.quad])[0], s.fragment_area)
                    ):
                        fragment_of[j] = ti
                        break
        whole = [j for j in range(len(quads)) if j not in fragment_of]
        iou = box_iou(_boxes([t.quad for t in tracks]), det_boxes)
        iou[:, list(fragment_of)] = 0.0
        match: dict[int, int] = {}  # detection -> track index
        if iou.size:
            taken: set[int] = set()
            for ti, dj in sorted(zip(*np.nonzero(iou >= s.match_iou), strict=True), key=lambda p: -iou[p[0], p[1]]):
                if ti not in taken and dj not in match:
                    match[int(dj)] = int(ti)
                    taken.add(int(ti))

        to_read = [j for j in whole if j not in match or cut or self._needs_reading(tracks[match[j]], quads[j], thumb)]
        readings = dict(zip(to_read, read(to_read), strict=True)) if to_read else {}

        # a read detection confirms its overlap match by text, unless the boxes all but coincide (no cut)
        for j, ti in list(match.items()):
            reading, track = readings.get(j), tracks[ti]
            if reading is None or reading.confidence < s.min_confidence or not track.votes:
                continue
            partial = track.full_view and _near_edge(det_boxes[j], width, height, s.edge_margin)
            if (cut or iou[ti, j] < s.strong_iou) and similarity(
                reading.text, track.fused()[0], partial
            ) < s.text_similarity:
                del match[j]
        # lines that jumped (fast motion, a dropped frame or two): same text close by
        matched_tracks = set(match.values())
        for j in whole:
            reading = readings.get(j)
            if j in match or reading is None or reading.confidence < s.min_confidence or not reading.text:
                continue
            reach = 3.0 * _line_height(quads[j])
            centre = det_boxes[j, :2] / 2 + det_boxes[j, 2:] / 2
            best, best_sim = None, s.text_similarity
            for ti, track in enumerate(tracks):
                if ti in matched_tracks or not track.votes:
                    continue
                box = _boxes([track.quad])[0]
                if np.linalg.norm((box[:2] + box[2:]) / 2 - centre) > reach:
                    continue
                sim = similarity(reading.text, track.fused()[0])
                if sim >= best_sim:
                    best, best_sim = ti, sim
            if best is not None:
                match[j] = best
                matched_tracks.add(best)

        events: list[TrackEvent] = []
        for track in everything:
            track.read_now = False
        partly = {ti for ti in fragment_of.values() if ti not in matched_tracks}
        seen: list[Track] = []
        for ti, track in enumerate(tracks):
            if ti in matched_tracks:
                continue
            if ti in partly:  # covered in part: still there, its box and reading stay, it votes as before
                track.partial += 1
                track.missed = 0
                events.extend(self._again(track, sequence, seen, (width, height)))
                continue
            track.missed = s.disappear_after if cut else track.missed + 1
            if track.missed >= s.disappear_after:
                events.extend(self._drop(track, sequence))
        for track in everything:  # not looked for: this frame repeats the last observation of it
            if track.id not in scope:
                events.extend(self._again(track, sequence, seen, (width, height)))
        for j, quad in enumerate(quads):
            if j in fragment_of:
                continue
            covered = False
            if j in match:
                track = tracks[match[j]]
                covered = _covered(track, quad, changed, s.reread_move)
            elif len(self._tracks) < s.max_tracks:
                track = Track(self._next_id, np.asarray(quad, np.float32), sequence)
                self._next_id += 1
                self._tracks[track.id] = track
            else:
                continue
            track.quad = np.asarray(quad, np.float32)
            track.hits += 1
            track.missed = track.partial = 0
            track.clipped = not s.skip_detection and _near_edge(det_boxes[j], width, height, s.edge_margin)
            reading = readings.get(j)
            if reading is not None and covered:  # keeps what it read before, and the box it read it in
                track.read_now = True
                track.since_read += 1
            elif reading is not None:
                track.read_now = True
                track.read_quad, track.read_thumb, track.since_read = track.quad, thumb(track.quad), 0
                track.last_reading = None
                if reading.text and reading.confidence >= s.min_confidence:
                    if not track.clipped and not track.full_view:
                        track.full_view = True
                        track.votes.clear()  # readings of the line half out of view were partial
                    if track.full_view and track.clipped:
                        track.angle, track.corners = reading.angle, reading.corners  # leaving: no vote
                    else:
                        track.last_reading = reading
            else:
                track.since_read += 1
            if track.last_reading is not None:  # a reused reading is what this frame would have read
                track.vote(track.last_reading, s.vote_decay)
            seen.append(track)
        self._order = [seen[i].id for i in reading_order([t.quad for t in seen])]
        events.extend(self._advance(sequence))
        return events, self.lines(), len(to_read)

    def seen_again(
        self, sequence: int, frame_size: tuple[int, int] | None = None
    ) -> tuple[list[TrackEvent], list[TrackedLine]]:
        """A frame unchanged since the last processed one (after the camera's motion) repeats its
        observation: lines in view were seen once more, lines missing from it (or moved out of the frame,
        given ``frame_size``) are missing once more."""
        events: list[TrackEvent] = []
        seen: list[Track] = []
        for track in list(self._tracks.values()):
            track.read_now = False
            events.extend(self._again(track, sequence, seen, frame_size))
        ids = {t.id for t in seen}
        self._order = [tid for tid in self._order if tid in ids] + [t.id for t in seen if t.id not in self._order]
        return events + self._advance(sequence), self.lines()

    def _again(
        self, track: Track, sequence: int, seen: list[Track], frame_size: tuple[int, int] | None
    ) -> list[TrackEvent]:
        """``track`` was not looked for in this frame: it is where it was (moved with the camera)."""
        s = self.settings
        if track.missed == 0 and (frame_size is None or _in_view(track.quad, *frame_size)):
            track.hits += 1  # since_read stays: re-reading an unchanged frame would read the same
            if track.last_reading is not None:
                track.vote(track.last_reading, s.vote_decay)
            seen.append(track)
            return []
        track.missed += 1
        if track.missed >= s.disappear_after:
            return self._drop(track, sequence)
        return []

    def finish(self, sequence: int) -> list[TrackEvent]:
        """End of stream: DISAPPEARED for every reported line; the tracker is empty afterwards."""
        events = [e for track in list(self._tracks.values()) for e in self._drop(track, sequence)]
        self._order = []
        return events

    def clear(self) -> None:
        self._tracks.clear()
        self._order = []

    def _visible(self) -> Iterator[tuple[Track, str, float]]:
        """Tracks in view that have a reading, in reading order, with their fused text and confidence."""
        for tid in self._order:
            track = self._tracks.get(tid)
            if track is None or track.missed:
                continue
            text, confidence = track.fused(self._accept)
            if text:
                yield track, text, confidence

    def lines(self) -> list[TrackedLine]:
        """Lines in view with a reading, in reading order (reported ones and ones not yet confirmed)."""
        out = []
        for track, text, confidence in self._visible():
            out.append(
                TrackedLine(
                    track.id,
                    text,
                    confidence,
                    track.polygon(),
                    track.angle,
                    track.read_now,
                    track.reported_text is not None,
                    track.stable_sent,
                    track.words(text),
                )
            )
        return out

    # ---- internals ----------------------------------------------------------------------------------
    def _needs_reading(self, track: Track, quad: np.ndarray, thumb: ThumbFn) -> bool:
        s = self.settings
        if not track.votes or track.read_quad is None or track.read_thumb is None:
            return True
        if track.since_read + 1 >= s.reread_every:
            return True
        moved = float(np.abs(np.asarray(quad, np.float32) - track.read_quad).max())
        if moved > s.reread_move * _line_height(track.read_quad):
            return True
        # same box as at the reading, and that box moved with the detection (camera shake moves both)
        shifted = track.read_quad + (np.asarray(quad, np.float32) - track.read_quad).mean(axis=0)
        return (
            min(float(np.abs(thumb(box) - track.read_thumb).mean()) for box in (track.read_quad, shifted))
            > s.reread_diff
        )

    def _drop(self, track: Track, sequence: int) -> list[TrackEvent]:
        del self._tracks[track.id]
        if track.reported_text is None:
            return []
        text, confidence = track.fused(self._accept)
        return [
            TrackEvent(
                EventType.DISAPPEARED,
                track.id,
                text or track.reported_text,
                confidence,
                track.polygon(),
                sequence,
                candidates=track.candidates(self._accept),
            )
        ]

    def _advance(self, sequence: int) -> list[TrackEvent]:
        s = self.settings
        events: list[TrackEvent] = []
        for track, text, confidence in self._visible():
            settled = not track.clipped or track.hits >= s.edge_hold  # clipped text may be partial
            if track.reported_text is None:
                if track.hits >= s.min_hits and settled:
                    track.reported_text, track.same_text = text, 1
                    events.append(
                        TrackEvent(
                            EventType.APPEARED,
                            track.id,
                            text,
                            confidence,
                            track.polygon(),
                            sequence,
                            candidates=track.candidates(self._accept),
                        )
                    )
                continue
            if text != track.reported_text and settled:
                events.append(
                    TrackEvent(
                        EventType.UPDATED,
                        track.id,
                        text,
                        confidence,
                        track.polygon(),
                        sequence,
                        previous_text=track.reported_text,
                        candidates=track.candidates(self._accept),
                    )
                )
                track.reported_text, track.same_text, track.stable_sent = text, 1, False
                continue
            track.same_text += 1
            if not track.stable_sent and track.same_text >= s.stable_after:
                track.stable_sent = True
                events.append(
                    TrackEvent(
                        EventType.STABLE,
                        track.id,
                        track.reported_text,
                        confidence,
                        track.polygon(),
                        sequence,
                        candidates=track.candidates(self._accept),
                    )
                )
        return events


def _overlaps(box: Sequence[float], region: Region) -> bool:
    return box[0] < region[2] and region[0] < box[2] and box[1] < region[3] and region[1] < box[3]


def _part_of(det: np.ndarray, track: np.ndarray, most: float) -> bool:
    """``det`` lies inside ``track`` (90% of it) and covers at most ``most`` of its area: a part of it."""
    inter = max(0.0, min(det[2], track[2]) - max(det[0], track[0])) * max(
        0.0, min(det[3], track[3]) - max(det[1], track[1])
    )
    det_area = max((det[2] - det[0]) * (det[3] - det[1]), 1e-6)
    track_area = max((track[2] - track[0]) * (track[3] - track[1]), 1e-6)
    return inter >= 0.9 * det_area and det_area <= most * track_area


def _covered(track: Track, quad: np.ndarray, changed: Sequence[Region], move: float) -> bool:
    """The line stayed where it was carried to (this frame's box lies within it, give or take ``move``
    line heights: part of it may be hidden), and a change more than twice its height overlaps it."""
    if not changed or track.read_quad is None:
        return False
    height = _line_height(track.read_quad)
    box, carried = _boxes([quad])[0], _boxes([track.quad])[0]
    slack = move * height
    if (
        box[0] < carried[0] - slack
        or box[1] < carried[1] - slack
        or box[2] > carried[2] + slack
        or box[3] > carried[3] + slack
    ):
        return False
    return any(_overlaps(box, r) and (r[3] - r[1]) > 2 * height + (box[3] - box[1]) for r in changed)


def _in_view(quad: np.ndarray, width: int, height: int) -> bool:
    """At least half of the box is inside the frame."""
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    inside = max(0.0, min(x1, width) - max(x0, 0)) * max(0.0, min(y1, height) - max(y0, 0))
    return inside >= 0.5 * max((x1 - x0) * (y1 - y0), 1e-6)


def _near_edge(box: np.ndarray, width: int, height: int, margin: int) -> bool:
    """Within ``margin`` pixels (or a quarter of the line's height: the detector's box of a glyph the frame
    edge cuts stops short of the edge) of the frame's edge."""
    x0, y0, x1, y1 = (float(v) for v in box)
    m = max(float(margin), 0.25 * (y1 - y0)) if margin else 0.0
    return x0 <= m or y0 <= margin or x1 >= width - 1 - m or y1 >= height - 1 - margin
