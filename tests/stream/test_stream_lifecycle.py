"""Opening and cancelling many streams leaves nothing behind: no threads, tasks, waiters, sessions or tracks."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from edge_runtime.stream import FlowMode, Frame, StreamSession, StreamSettings, arun_stream, run_stream

SESSIONS = 1000


def camera(image):
    """An endless 1000 frames/s camera."""
    sequence = 0
    while True:
        time.sleep(0.001)
        yield Frame(image, sequence, time.time())
        sequence += 1


def threads_started_since(before: set[threading.Thread], timeout: float = 10.0) -> list[str]:
    """Threads alive now that were not alive at ``before`` (waiting up to ``timeout`` for them to end). Threads of
    earlier tests that end meanwhile do not count, so the answer is about this test's threads only."""
    deadline = time.monotonic() + timeout
    while (new := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    return sorted(t.name for t in new)


def test_thousand_threaded_sessions_opened_and_cancelled(engine, clips):
    scene, _ = clips["static"]
    image = scene.frames[0][100:164, 100:228].copy()  # small: the first frame runs the models
    before = set(threading.enumerate())
    refs = []
    for i in range(SESSIONS):
        mode = (FlowMode.LATEST_ONLY, FlowMode.QUEUE, FlowMode.ALL)[i % 3]
        settings = StreamSettings(mode=mode, queue_size=2)
        session = StreamSession(engine, settings)
        refs.append(weakref.ref(session))
        # every stream starts its producer and consumes a frame; one in ten runs the models on it, the others
        # get undecodable frames (a per-frame error, cheap); ALL streams then have a producer blocked in put()
        results = run_stream(engine, camera(image if i % 10 == 0 else b"\xff\xd8 no jpeg"), settings, session=session)
        result = next(results)
        assert (result.error is None) == (i % 10 == 0)
        results.close()
        assert session.closed and len(session.tracker) == 0
        del session, results, result
    never_started = run_stream(engine, camera(image), StreamSettings())
    never_started.close()
    assert never_started.session.closed
    assert threads_started_since(before) == []
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0


def test_thousand_asyncio_sessions_cancelled_while_waiting(engine, clips):
    scene, _ = clips["static"]
    image = scene.frames[0][100:164, 100:228].copy()
    refs = []
    executor = ThreadPoolExecutor(2)

    async def frames(first: bool):
        if first:
            yield Frame(image, 0, time.time())
        await asyncio.Event().wait()  # a client that sends nothing more

    async def consume(session: StreamSession, first: bool, started: asyncio.Event):
        async for _ in arun_stream(engine, frames(first), session.settings, executor, session=session):
            started.set()

    async def scenario():
        tasks, sessions = [], []
        for i in range(SESSIONS):
            session = StreamSession(engine, StreamSettings(mode=(FlowMode.LATEST_ONLY, FlowMode.ALL)[i % 2]))
            refs.append(weakref.ref(session))
            started = asyncio.Event()
            task = asyncio.create_task(consume(session, i % 50 == 0, started))
            tasks.append(task)
            sessions.append(session)
            if i % 50 == 0:
                await asyncio.wait_for(started.wait(), 30)
        await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert all(s.closed and len(s.tracker) == 0 for s in sessions)
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert leftover == []

    before = set(threading.enumerate())
    asyncio.run(scenario())
    executor.shutdown(wait=True)
    assert threads_started_since(before) == []
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0


def test_closing_while_a_frame_is_in_flight_frees_state_when_it_returns(engine, clips):
    scene, _ = clips["static"]
    session = StreamSession(engine, StreamSettings())
    session.process(Frame(scene.frames[0], 0, 0.0))
    session.process(Frame(scene.frames[0], 1, 0.0))
    assert len(session.tracker) == 2
    done = threading.Event()

    def slow():
        session.process(Frame(np.ascontiguousarray(scene.frames[0][:, ::-1]), 2, 0.0))  # changed: runs models
        done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.01)
    session.close()
    thread.join()
    assert done.is_set() and len(session.tracker) == 0
