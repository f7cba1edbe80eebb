"""One camera stream on an OcrEngine: motion-compensated change detection, detection only where the frame
changed, tracks carried along the camera's motion, reused readings.

``StreamSession.process`` is the synchronous per-frame step; ``run_stream`` (threads) and ``arun_stream``
(asyncio, for grpc.aio) put flow control in front of it and free everything when the consumer stops.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import replace
from types import GeneratorType
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_runtime import recognize
from edge_runtime.errors import DeadlineExceededError, InvalidImageError, OcrError
from edge_runtime.pipeline import LineCrop, OcrEngine, Steps
from edge_runtime.recognize import Reading
from edge_runtime.stream.change import ChangeDetector, region_thumbnail
from edge_runtime.stream.fields import EventFields
from edge_runtime.stream.flow import Delivery, FlowCancelled, FlowClosed, FlowQueue
from edge_runtime.stream.regions import RegionDetector, area, plan
from edge_runtime.stream.scheduler import FrameScheduler, Job
from edge_runtime.stream.settings import StreamSettings
from edge_runtime.stream.tracking import LineReading, Tracker
from edge_runtime.stream.types import Frame, FrameError, FrameResult
from edge_runtime.types import RawImage

if TYPE_CHECKING:
    from edge_runtime.fields import FieldSet

__all__ = ["StreamSession", "StreamResults", "run_stream", "arun_stream", "Guard"]

log = logging.getLogger(__name__)

# Entered around the models' work on one frame (after decoding is allowed to fail on its own); an OcrError it
# raises on entry (say, a server's admission refusing the frame) fails that frame only.
Guard = Callable[[], AbstractContextManager[object]]


class StreamSession:
    """Temporal OCR state of one stream. One consumer at a time; ``close`` may come from any thread."""

    def __init__(
        self,
        engine: OcrEngine,
        settings: StreamSettings | None = None,
        follow: Callable[[], OcrEngine] | None = None,
        field_sets: Mapping[str, FieldSet] | None = None,
    ) -> None:
        """``follow``: asked before each frame for the engine to run it on (a server that swaps its models
        without a restart), so a frame runs on one engine and the stream's tracks carry across the swap.
        ``field_sets``: the deployment's own field sets (its fields file) ``settings.fields`` may name; an unknown
        or unsupported name fails here (ConfigurationError), before any frame."""
        self.engine = engine
        self._follow = follow
        self.settings = s = settings or StreamSettings()
        self.fields = EventFields(s.fields, field_sets)
        self.change = ChangeDetector(
            s.change_width,
            s.change_cell,
            s.change_threshold,
            s.cut_fraction,
            s.max_shift,
            s.edge_strip,
            s.change_edge_tolerance,
            s.cut_exposure,
            s.cut_gain,
        )
        self.tracker = Tracker(s)
        self.regions = RegionDetector(engine)
        self.frames_consumed = 0
        self.frames_processed = 0
        self.lines_read = 0
        self.detections_full = 0  # detector runs on the whole frame
        self.detections_regions = 0  # ... on crops of the frame only
        self.detected_area = 0.0  # sum over frames of the share of the frame the detector ran on
        self._since_processed = 0
        self._since_full = 0
        self._shift = (0.0, 0.0)  # global motion of the last consumed frame against the reference
        self._last_sequence = -1
        self._last_capture = 0.0
        self._dropped = 0
        self._lock = threading.Lock()
        self._busy = False
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def process(self, frame: Frame, delivery: Delivery | None = None, guard: Guard | None = None) -> FrameResult:
        """One frame -> its result. A frame that cannot be used gets ``error`` set; the session goes on.

        ``guard``: see ``Guard``; it holds while the frame is worked on.
        """
        with self._lock:
            if self._closed:
                raise FlowCancelled("stream session closed")
            self._busy = True
        started = time.perf_counter()
        try:
            if frame.error is not None:
                raise frame.error
            with guard() if guard is not None else nullcontext():
                result = self._process(frame)
        except OcrError as exc:
            result = FrameResult(frame.sequence, frame.capture_time, error=FrameError(exc.reason, exc.message, exc))
        except Exception as exc:  # one bad frame must not end the stream
            log.exception("stream frame %s failed", frame.sequence)
            result = FrameResult(
                frame.sequence,
                frame.capture_time,
                error=FrameError("INTERNAL", "internal error while processing the frame", exc),
            )
        finally:
            with self._lock:
                self._busy = False
                if self._closed:
                    self._release()
        self._last_sequence, self._last_capture = frame.sequence, frame.capture_time
        if delivery is not None:
            self._dropped = delivery.dropped_total
        if result.events and self.fields.names:
            result = replace(result, events=self.fields(result.events))
        result = replace(result, processing_ms=round((time.perf_counter() - started) * 1000, 3))
        if delivery is None:
            return result
        return replace(
            result,
            frames_dropped=delivery.dropped_total,
            dropped_since_last=delivery.dropped_since_last,
            queue_wait_ms=round(delivery.queue_wait_ms, 3),
        )

    def finish(self) -> FrameResult:
        """End of stream: a final result with DISAPPEARED for every line still reported."""
        events = self.tracker.finish(self._last_sequence)
        self.change.reset()
        self._shift = (0.0, 0.0)
        return FrameResult(
            self._last_sequence,
            self._last_capture,
            events=self.fields(tuple(events)),
            frames_dropped=self._dropped,
            final=True,
        )

    def close(self) -> None:
        """Free tracks and references now (or as soon as a frame in flight on another thread returns)."""
        with self._lock:
            self._closed = True
            if not self._busy:
                self._release()

    def _release(self) -> None:
        self.tracker.clear()
        self.change.reset()
        self._shift = (0.0, 0.0)

    # ---- the step -----------------------------------------------------------------------------------
    def _process(self, frame: Frame) -> FrameResult:
        if self._follow is not None:
            engine = self._follow()
            if engine is not self.engine:
                self.engine, self.regions = engine, RegionDetector(engine)
        clock = time.perf_counter
        t0 = clock()
        image = self._decode(frame.image)
        t1 = clock()
        timings = {"decode": (t1 - t0) * 1000}
        self.frames_consumed += 1
        self._since_processed += 1
        self._since_full += 1
        s = self.settings
        change, thumb = self.change.compare(image)
        t0 = clock()
        timings["change"] = (t0 - t1) * 1000
        height, width = image.shape[:2]
        # the camera's motion since the previous consumed frame carries every track's box along
        if not s.skip_detection:  # (a frame that is one line has no camera to move)
            self.tracker.move((change.shift[0] - self._shift[0], change.shift[1] - self._shift[1]))
        self._shift = change.shift
        refresh = bool(s.refresh_every and self._since_processed >= s.refresh_every)
        full_due = bool(s.full_detect_every and self._since_full >= s.full_detect_every)
        if not change.changed and not refresh and not full_due:
            if change.exposure > s.rebase_exposure:  # same content, drifting light: compare with it from now on
                self.change.accept(thumb)
                self._shift = (0.0, 0.0)
            events, lines = self.tracker.seen_again(frame.sequence, (width, height))
            return FrameResult(
                frame.sequence,
                frame.capture_time,
                tuple(lines),
                tuple(events),
                skipped=True,
                timings_ms=_rounded(timings),
            )
        engine = self.engine
        searched = None
        if s.skip_detection:  # the frame is the line, exactly as OcrEngine.recognize reads it
            quad = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
            quads = [quad]
            share = 0.0
        else:
            if not (change.cut or refresh or full_due) and change.regions:
                searched = plan(
                    change.regions,
                    [_box(t.quad) for t in self.tracker.tracks],
                    (width, height),
                    s.region_pad,
                    s.region_max_fraction,
                )
            if searched is None:
                quads = engine.detect(image)
                share = 1.0
                self.detections_full += 1
                self._since_full = 0
            else:
                quads = self.regions.detect_in(image, searched)
                share = sum(area(b) for b in searched) / float(width * height)
                self.detections_regions += 1
        self.detected_area += share
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        timings["det"] = (clock() - t0) * 1000

        def read(indices: Sequence[int]) -> list[LineReading]:
            started = clock()
            if self.settings.skip_detection:
                chosen = [engine.whole_image_crop(image)]
            else:  # only the lines that need reading are cut out
                chosen = engine.crop(image, [quads[i] for i in indices])
            readings = engine.drive(_read_in_place(engine, chosen))
            timings["rec"] = (clock() - started) * 1000
            keep = engine.config.text_score
            return [
                LineReading(
                    r.text.strip(),
                    float(r.confidence) if r.confidence >= keep else 0.0,
                    c.direction,
                    _corners(c.quad, c.frame),
                    tuple(recognize.words_of(r)),
                )
                for r, c in zip(readings, chosen, strict=True)
            ]

        events, lines, read_count = self.tracker.step(
            frame.sequence,
            quads,
            read,
            lambda box: region_thumbnail(gray, box),
            (width, height),
            change.cut,
            searched,
            change.regions,
        )
        self.change.accept(thumb)
        self._shift = (0.0, 0.0)
        self._since_processed = 0
        self.frames_processed += 1
        self.lines_read += read_count
        return FrameResult(
            frame.sequence,
            frame.capture_time,
            tuple(lines),
            tuple(events),
            lines_read=read_count,
            timings_ms=_rounded(timings),
            detected_area=round(share, 4),
            shift=change.shift,
        )

    def _decode(self, image: np.ndarray | bytes | RawImage | None) -> np.ndarray:
        if image is None:
            raise InvalidImageError("frame has no image", "IMAGE_MISSING")
        return self.engine.load_image(image)


def _read_in_place(engine: OcrEngine, crops: list[LineCrop]) -> Steps[list[Reading]]:
    """The engine's own orient and reading steps (second look included) on the lines a frame needs read; the
    crops are turned in place and their readings keep the crops' order (the tracker's), not reading order."""
    yield from engine.orient_steps(crops)
    return (yield from engine.reading_steps(crops))


def _box(quad: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _corners(quad: np.ndarray, frame: np.ndarray) -> tuple[int, int, int, int]:
    """Which corner of the detected box is each corner of the reading frame (start-top, end-top, ...)."""
    distances = np.linalg.norm(frame[:, None, :] - quad[None, :, :], axis=2)
    order = tuple(int(i) for i in distances.argmin(axis=1))
    return order if len(set(order)) == 4 else (0, 1, 2, 3)  # type: ignore[return-value]


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in timings.items()}


class StreamResults(Iterator[FrameResult]):
    """The results of ``run_stream``; ``close()`` (or leaving a ``with`` block) ends the stream at any point."""

    def __init__(self, results: Iterator[FrameResult], session: StreamSession) -> None:
        self._results, self.session = results, session

    def __next__(self) -> FrameResult:
        return next(self._results)

    def close(self) -> None:
        self._results.close()  # type: ignore[attr-defined]
        self.session.close()  # also when iteration never started

    def __enter__(self) -> StreamResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_stream(
    engine: OcrEngine,
    frames: Iterable[Frame],
    settings: StreamSettings | None = None,
    session: StreamSession | None = None,
    scheduler: FrameScheduler | None = None,
    deadline: float | None = None,
    guard: Guard | None = None,
) -> StreamResults:
    """Process ``frames`` under the settings' flow control; frames are pulled on a producer thread.

    Yields one result per consumed frame, then the final flush. Closing early (``break`` then ``close()``,
    or a ``with`` block) cancels the flow, closes ``frames`` if it has a ``close`` method, joins the producer
    and frees the session. With a ``scheduler`` (shared by the streams of one engine) each frame's work waits
    for this stream's turn; without one it runs on the consumer's thread. A frame whose work would start at or
    after ``deadline`` (a ``time.monotonic()`` instant) is not computed: the stream ends with
    ``DeadlineExceededError`` and no flush.
    """
    settings = settings or StreamSettings()
    session = session or StreamSession(engine, settings)
    return StreamResults(_run_stream(frames, settings, session, scheduler, deadline, guard), session)


def _step(
    session: StreamSession,
    delivery: Delivery,
    scheduler: FrameScheduler | None,
    deadline: float | None,
    guard: Guard | None,
) -> Job[FrameResult] | None:
    """The work of one delivered frame: a scheduler Job, or None when it is to run right here."""
    if scheduler is None:
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlineExceededError("the call's deadline passed before this frame's turn came")
        return None
    return scheduler.submit(session, functools.partial(session.process, delivery.item, delivery, guard), deadline)


def _scheduled(result: FrameResult, job: Job[FrameResult]) -> FrameResult:
    return replace(result, frames_ahead=job.ahead, queue_wait_ms=round(result.queue_wait_ms + job.waited_ms, 3))


def _run_stream(
    frames: Iterable[Frame],
    settings: StreamSettings,
    session: StreamSession,
    scheduler: FrameScheduler | None,
    deadline: float | None,
    guard: Guard | None,
) -> Iterator[FrameResult]:
    flow: FlowQueue[Frame] = FlowQueue(settings.mode, settings.queue_size)
    failure: list[BaseException] = []

    def produce() -> None:
        iterator = iter(frames)
        try:
            for frame in iterator:
                flow.put(frame)
        except (FlowCancelled, FlowClosed):
            pass
        except BaseException as exc:  # handed to the consumer
            failure.append(exc)
        finally:
            flow.close()
            if isinstance(iterator, GeneratorType):
                iterator.close()  # on the thread that runs it; a generator cannot be closed from another

    producer = threading.Thread(target=produce, name="ocr-stream-producer", daemon=True)
    producer.start()
    try:
        while True:
            try:
                delivery = flow.get()
            except FlowClosed:
                break
            job = _step(session, delivery, scheduler, deadline, guard)
            if job is None:
                yield session.process(delivery.item, delivery, guard)
                continue
            try:
                result = job.future.result()
            finally:
                job.future.cancel()  # still waiting for its turn (this generator was closed): skip it
            yield _scheduled(result, job)
        if failure:
            raise failure[0]
        yield session.finish()
    finally:
        flow.cancel()  # wakes a producer waiting in put()
        close = getattr(frames, "close", None)
        if callable(close) and not isinstance(frames, GeneratorType):
            close()  # a source (VideoSource) closes from any thread, waking a producer waiting for a frame
        producer.join(timeout=10)
        session.close()


async def arun_stream(
    engine: OcrEngine,
    frames: AsyncIterable[Frame],
    settings: StreamSettings | None = None,
    executor: Executor | None = None,
    session: StreamSession | None = None,
    scheduler: FrameScheduler | None = None,
    deadline: float | None = None,
    guard: Guard | None = None,
) -> AsyncGenerator[FrameResult, None]:
    """asyncio form of ``run_stream``: frames are pulled by a task, processed on ``executor`` (default pool),
    or, given a ``scheduler``, on its executor when this stream's turn comes (``executor`` is then unused).

    Cancelling the consuming task (an RPC cancelled) cancels the flow, a frame still waiting for its turn and
    the producer task at once. ``deadline`` and ``guard``: as in ``run_stream``.
    """
    settings = settings or StreamSettings()
    session = session or StreamSession(engine, settings)
    flow: FlowQueue[Frame] = FlowQueue(settings.mode, settings.queue_size)
    failure: list[BaseException] = []
    loop = asyncio.get_running_loop()

    async def produce() -> None:
        try:
            async for frame in frames:
                await flow.aput(frame)
        except (FlowCancelled, FlowClosed):
            pass
        except Exception as exc:  # handed to the consumer
            failure.append(exc)
        finally:
            flow.close()

    producer = asyncio.create_task(produce(), name="ocr-stream-producer")
    try:
        while True:
            try:
                delivery = await flow.aget()
            except FlowClosed:
                break
            job = _step(session, delivery, scheduler, deadline, guard)
            if job is None:
                yield await loop.run_in_executor(executor, session.process, delivery.item, delivery, guard)
            else:
                yield _scheduled(await asyncio.wrap_future(job.future), job)
        if failure:
            raise failure[0]
        yield session.finish()
    finally:
        flow.cancel()
        session.close()
        if not producer.done():
            producer.cancel()
        with suppress(asyncio.CancelledError, Exception):  # already reported or cancelled
            await producer
