"""Streams sharing one engine: round-robin turns by stream, deadlines, cancelled units, a flood beside a slow camera."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, ThreadPoolExecutor

import pytest

from edge_runtime.errors import DeadlineExceededError
from edge_runtime.stream import FlowMode, Frame, FrameScheduler, StreamSettings, run_stream


@pytest.fixture
def pool():
    executor = ThreadPoolExecutor(1)
    yield executor
    executor.shutdown(wait=True)


def test_units_start_one_stream_at_a_time_in_turn(pool):
    scheduler = FrameScheduler(pool)
    gate = threading.Event()
    order: list[str] = []

    def unit(name: str):
        def run():
            if name == "a1":
                gate.wait(10)
            order.append(name)
            return name

        return run

    jobs = [scheduler.submit("a", unit("a1"))]  # starts at once and holds the one slot
    jobs += [scheduler.submit("a", unit(n)) for n in ("a2", "a3", "a4")]  # a flooding stream
    jobs += [scheduler.submit("b", unit("b1")), scheduler.submit("c", unit("c1"))]
    gate.set()
    assert [job.future.result(10) for job in jobs] == ["a1", "a2", "a3", "a4", "b1", "c1"]
    assert order == ["a1", "a2", "b1", "c1", "a3", "a4"]  # after a2, a waits for b's and c's turn
    ahead = {job.future.result(): job.ahead for job in jobs}
    assert ahead == {"a1": 0, "a2": 0, "b1": 1, "c1": 2, "a3": 3, "a4": 4}  # started after each was submitted
    stats = scheduler.stats()
    assert (stats.started, stats.pending, stats.running, stats.streams) == (6, 0, 0, 0)


def test_a_unit_whose_deadline_passed_is_not_started(pool):
    scheduler = FrameScheduler(pool)
    ran: list[int] = []
    job = scheduler.submit("a", lambda: ran.append(1), deadline=time.monotonic() - 1)
    with pytest.raises(DeadlineExceededError):
        job.future.result(10)
    assert scheduler.submit("a", lambda: ran.append(2), deadline=time.monotonic() + 600).future.result(10) is None
    assert ran == [2] and scheduler.stats().expired == 1


def test_a_cancelled_unit_is_skipped(pool):
    scheduler = FrameScheduler(pool)
    gate = threading.Event()
    ran: list[str] = []
    first = scheduler.submit("a", lambda: gate.wait(10))
    waiting = scheduler.submit("b", lambda: ran.append("b"))
    after = scheduler.submit("c", lambda: ran.append("c"))
    assert waiting.future.cancel()
    gate.set()
    after.future.result(10)
    first.future.result(10)
    with pytest.raises(CancelledError):
        waiting.future.result()
    assert ran == ["c"] and scheduler.stats().cancelled == 1


def test_a_flooding_stream_does_not_starve_a_slow_one(engine, clips, pool):
    """Two in-process streams on one engine: one fed every frame as fast as it can take them (ALL), the other
    one frame at a time with pauses. Every frame of the slow one is answered, and while each waited for its
    turn the scheduler started at most one frame of the flood."""
    flood_scene, _ = clips["noisy"]  # every frame differs: every frame runs the models
    slow_scene, _ = clips["static"]
    scheduler = FrameScheduler(pool)
    stop = threading.Event()

    def flood():
        sequence = 0
        while not stop.is_set():
            yield Frame(flood_scene.frames[sequence % len(flood_scene.frames)], sequence, time.time())
            sequence += 1

    flooded: list = []

    def run_flood():
        with run_stream(
            engine, flood(), StreamSettings(mode=FlowMode.ALL, queue_size=4), scheduler=scheduler
        ) as results:
            for result in results:
                flooded.append(result)
                if stop.is_set():
                    break

    flooder = threading.Thread(target=run_flood)
    flooder.start()
    try:
        while len(flooded) < 2:  # the flood is under way
            time.sleep(0.01)

        def slow():
            for sequence in range(6):
                yield Frame(slow_scene.frames[sequence], sequence, time.time())
                time.sleep(0.05)

        answered = list(
            run_stream(engine, slow(), StreamSettings(mode=FlowMode.ALL, change_threshold=0), scheduler=scheduler)
        )
    finally:
        stop.set()
        flooder.join(60)
    frames = [r for r in answered if not r.final]
    assert [r.sequence for r in frames] == list(range(6)) and not any(r.error for r in frames)
    assert max(r.frames_ahead for r in frames) <= 1  # one other stream: at most one of its frames first
    assert len(flooded) > 2 and not any(r.error for r in flooded)
    assert scheduler.stats().pending == 0


def test_a_stream_past_its_deadline_computes_nothing(engine, clips, pool):
    scene, _ = clips["static"]
    scheduler = FrameScheduler(pool)
    frames = (Frame(image, i, 0.0) for i, image in enumerate(scene.frames[:3]))
    with pytest.raises(DeadlineExceededError):
        list(
            run_stream(
                engine,
                frames,
                StreamSettings(mode=FlowMode.ALL),
                scheduler=scheduler,
                deadline=time.monotonic() - 0.001,
            )
        )
    assert scheduler.stats().started == 0 and scheduler.stats().expired == 1
    with pytest.raises(DeadlineExceededError):  # without a scheduler, too
        list(
            run_stream(
                engine,
                iter([Frame(scene.frames[0], 0, 0.0)]),
                StreamSettings(mode=FlowMode.ALL),
                deadline=time.monotonic() - 0.001,
            )
        )
