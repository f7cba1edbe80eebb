"""Dynamic batching of model runs across concurrent requests (asyncio + one dispatch executor, free of grpc).

A run's rows are batched with rows of other calls that have the same shape: recognizer crops are padded to a
width that depends on the crop alone (its bucket, see edge_runtime/recognize.py), detector inputs to a size
that depends on the image alone (a shape bucket), so rows from different requests that share a shape can share
one model run without changing any answer (tested).

A batch is *formed when the dispatcher gets to it*, not when it is queued: the first row of a shape starts a
``max_delay_s`` timer; when it fires (or as soon as the shape holds ``max_size`` rows) a job is queued on the
dispatch executor, and that job takes up to ``max_size`` rows of the shape at the moment it starts and starts
their run (``submit``, which returns at once unless every model lane is busy). While the dispatcher waits for a
lane, rows keep joining, so batches grow with load and the added latency at low load is at most
``max_delay_s``. Rows whose caller went away (deadline passed, client gone) are dropped before the run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Batcher", "BatchStats"]

Submit = Callable[[np.ndarray], "Future[np.ndarray]"]  # starts one run on stacked rows; its future: the output


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0  # rows run
    largest: int = 0
    dropped: int = 0  # rows whose caller was gone before their batch ran
    mixed: int = 0  # batches that held rows of more than one call
    sizes: list[int] = field(default_factory=list)  # recent batch sizes (last 256)
    size_counts: dict[int, int] = field(default_factory=dict)  # batches per size, since start (server.metrics)


@dataclass(eq=False)
class _Pending:
    row: np.ndarray
    future: asyncio.Future
    caller: int


@dataclass
class _Bucket:
    items: list[_Pending] = field(default_factory=list)
    jobs: int = 0  # jobs queued on the executor and not yet started
    timer: asyncio.TimerHandle | None = None


class Batcher:
    """Collects rows of one model's inputs per shape and runs them in shared batches.

    ``submit`` starts one run of stacked rows and returns a future of its output (rows in the same order); it
    is called on ``executor``'s thread (the dispatcher), where it may block while the model is busy.
    """

    def __init__(self, submit: Submit, executor: Executor, max_size: int, max_delay_s: float) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self._submit = submit
        self._executor = executor
        self.max_size = max_size
        self.max_delay_s = max_delay_s
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()
        self._callers = 0
        self.stats = BatchStats()

    async def run(self, blob: np.ndarray) -> np.ndarray:
        """The model's output for ``blob`` (N rows), as if run alone; each row may share a batch with other
        callers' rows of its shape."""
        if not len(blob):
            raise ValueError("an empty run")
        loop = asyncio.get_running_loop()
        self._callers += 1
        caller = self._callers
        key = blob.shape[1:]
        futures = []
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket())
            for row in blob:
                pending = _Pending(row, loop.create_future(), caller)
                futures.append(pending.future)
                bucket.items.append(pending)
                if len(bucket.items) >= self.max_size * (bucket.jobs + 1):
                    self._queue_locked(key, bucket, loop)
            if bucket.items and bucket.jobs == 0 and bucket.timer is None:
                bucket.timer = loop.call_later(self.max_delay_s, self._on_timer, key, loop)
        try:
            return np.stack(await asyncio.gather(*futures))
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    @property
    def pending(self) -> int:
        """Rows queued and not yet taken by a model run (a metrics gauge; read without the lock)."""
        return sum(len(bucket.items) for bucket in list(self._buckets.values()))

    def size_counts(self) -> dict[int, int]:
        """Batches run per size since start (a copy, for server.metrics)."""
        with self._lock:
            return dict(self.stats.size_counts)

    def _on_timer(self, key: Hashable, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.timer = None
                if bucket.items and bucket.jobs == 0:
                    self._queue_locked(key, bucket, loop)

    def _queue_locked(self, key: Hashable, bucket: _Bucket, loop: asyncio.AbstractEventLoop) -> None:
        if bucket.timer is not None:
            bucket.timer.cancel()
            bucket.timer = None
        bucket.jobs += 1
        self._executor.submit(self._job, key, loop)

    def _job(self, key: Hashable, loop: asyncio.AbstractEventLoop) -> None:
        """On the dispatcher: take the shape's rows as they are now and start their run."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return
            bucket.jobs -= 1
            live = [p for p in bucket.items if not p.future.done()]
            self.stats.dropped += len(bucket.items) - len(live)
            take, rest = live[: self.max_size], live[self.max_size :]
            bucket.items = rest
            if not rest and bucket.jobs == 0:
                if bucket.timer is not None:
                    bucket.timer.cancel()
                del self._buckets[key]
            elif rest and bucket.jobs == 0:  # these waited while the dispatcher was busy: run them next
                self._queue_locked(key, bucket, loop)
            if take:
                s = self.stats
                s.batches += 1
                s.items += len(take)
                s.largest = max(s.largest, len(take))
                s.mixed += len({p.caller for p in take}) > 1
                s.sizes = (s.sizes + [len(take)])[-256:]
                s.size_counts[len(take)] = s.size_counts.get(len(take), 0) + 1
        if not take:
            return
        try:
            future = self._submit(np.stack([p.row for p in take]))
        except Exception as exc:  # every caller of this batch gets the failure
            loop.call_soon_threadsafe(self._deliver, take, exc)
            return
        future.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._deliver, take, done.exception() or done.result())
        )

    @staticmethod
    def _deliver(take: list[_Pending], outcome: np.ndarray | BaseException) -> None:
        """Row k of the batch's output to its k-th caller, or the batch's failure to every caller."""
        for k, p in enumerate(take):
            if p.future.done():
                continue
            if isinstance(outcome, BaseException):
                p.future.set_exception(outcome)
            else:
                p.future.set_result(outcome[k])
