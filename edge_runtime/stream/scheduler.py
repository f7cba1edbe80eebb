"""Fair sharing of one engine between camera streams: one unit of frame work per stream in turn (round-robin).

Each stream submits the work of its next frame (``submit``); the scheduler keeps a queue per stream and, when
one of its ``concurrency`` slots is free, starts the oldest unit of the *next stream in turn* on the executor
the model runs go to. A stream that floods (flow control ``ALL``) therefore waits its turn like the others:
a unit of a slow stream has at most one unit of every other stream started ahead of it (plus those already
running). A stream only ever has the frame it is about to process in here (``StreamSession`` is sequential);
its other frames wait in its own flow-control queue, under its own drop policy.

A unit whose deadline (``time.monotonic()`` instant) has passed when its turn comes is not started: its future
fails with ``DeadlineExceededError``. A unit whose future was cancelled (the stream went away) is skipped.
Thread-safe; usable from threads (``Job.future.result()``) and asyncio (``asyncio.wrap_future(job.future)``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from edge_runtime.errors import DeadlineExceededError

__all__ = ["FrameScheduler", "Job", "SchedulerStats"]

T = TypeVar("T")


class Job(Generic[T]):
    """One unit of a stream's work. ``ahead`` and ``waited_ms`` are known once it started."""

    __slots__ = ("stream", "fn", "deadline", "future", "ahead", "waited_ms", "_ticket", "_at")

    def __init__(self, stream: Hashable, fn: Callable[[], T], deadline: float | None, ticket: int) -> None:
        self.stream, self.fn, self.deadline = stream, fn, deadline
        self.future: Future[T] = Future()
        self.ahead = 0  # units (of any stream) started after this one was submitted and before it started
        self.waited_ms = 0.0  # from submit to start
        self._ticket = ticket
        self._at = time.monotonic()


@dataclass(frozen=True)
class SchedulerStats:
    started: int  # units started
    expired: int  # units not started: their deadline had passed
    cancelled: int  # units not started: their stream went away
    running: int
    pending: int
    streams: int  # streams with a unit waiting


class FrameScheduler:
    """Round-robin by stream in front of ``executor``, at most ``concurrency`` units running at once."""

    def __init__(self, executor: Executor, concurrency: int = 1) -> None:
        if concurrency < 1:
            raise ValueError("scheduler concurrency must be >= 1")
        self.executor, self.concurrency = executor, concurrency
        self._lock = threading.Lock()
        self._pending: dict[Hashable, deque[Job]] = {}
        self._ring: deque[Hashable] = deque()  # streams with pending units, next in turn first
        self._running = 0
        self._started = self._expired = self._cancelled = 0

    def submit(self, stream: Hashable, fn: Callable[[], T], deadline: float | None = None) -> Job[T]:
        """Queue ``fn`` as the next unit of ``stream``; it runs on the executor when its turn comes."""
        with self._lock:
            job: Job[T] = Job(stream, fn, deadline, self._started)
            queue = self._pending.get(stream)
            if queue is None:
                self._pending[stream] = queue = deque()
                self._ring.append(stream)
            queue.append(job)
        self._pump()
        return job

    def stats(self) -> SchedulerStats:
        with self._lock:
            return SchedulerStats(
                self._started,
                self._expired,
                self._cancelled,
                self._running,
                sum(len(q) for q in self._pending.values()),
                len(self._pending),
            )

    # ---- internals ----------------------------------------------------------------------------------
    def _pump(self) -> None:
        starting: list[Job] = []
        with self._lock:
            while self._running < self.concurrency and self._ring:
                stream = self._ring.popleft()
                queue = self._pending[stream]
                job = queue.popleft()
                if queue:
                    self._ring.append(stream)  # its next unit waits for every other stream's turn
                else:
                    del self._pending[stream]
                if not job.future.set_running_or_notify_cancel():
                    self._cancelled += 1
                    continue
                now = time.monotonic()
                if job.deadline is not None and now >= job.deadline:
                    self._expired += 1
                    job.future.set_exception(
                        DeadlineExceededError("the call's deadline passed before this frame's turn came")
                    )
                    continue
                job.ahead, job.waited_ms = self._started - job._ticket, (now - job._at) * 1000.0
                self._started += 1
                self._running += 1
                starting.append(job)
        for job in starting:
            try:
                self.executor.submit(self._run, job)
            except RuntimeError as exc:  # the executor shut down
                job.future.set_exception(exc)
                with self._lock:
                    self._running -= 1

    def _run(self, job: Job) -> None:
        try:
            result = job.fn()
        except BaseException as exc:  # handed to whoever waits on the unit
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)
        finally:
            with self._lock:
                self._running -= 1
            self._pump()
