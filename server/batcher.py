"""Dynamic batching of text-line recognition across concurrent requests (asyncio + one executor, free of grpc).

Each crop is padded to a width that depends on the crop alone (its bucket, see edge_runtime/recognize.py), so
crops from different requests that share a bucket can share one recognizer run without changing any answer.

A batch is *formed when the model is about to run it*, not when it is queued: the first crop of a bucket
starts a ``max_delay_s`` timer; when it fires (or as soon as the bucket holds ``max_size`` crops) a job is
queued on the inference executor, and that job takes up to ``max_size`` crops of the bucket at the moment it
starts. While the model is busy with other work, crops keep joining, so batches grow with load and the added
latency at low load is at most ``max_delay_s``. Crops whose caller went away (deadline passed, client gone)
are dropped before the run.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from edge_runtime.recognize import Reading

__all__ = ["RecognitionBatcher", "BatchStats"]

Prepared = tuple[np.ndarray, int]  # (3 x H x bucket_width blob, content width), from recognize.preprocess
RunBucket = Callable[[Sequence[Prepared]], list[Reading]]


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    largest: int = 0
    dropped: int = 0  # crops whose caller was gone before their batch ran
    mixed: int = 0  # batches that held crops of more than one read() call
    sizes: list[int] = field(default_factory=list)  # recent batch sizes (last 256)
    size_counts: dict[int, int] = field(default_factory=dict)  # batches per size, since start (server.metrics)


@dataclass(eq=False)
class _Pending:
    prepared: Prepared
    future: asyncio.Future
    caller: int


@dataclass
class _Bucket:
    items: list[_Pending] = field(default_factory=list)
    jobs: int = 0  # jobs queued on the executor and not yet started
    timer: asyncio.TimerHandle | None = None


class RecognitionBatcher:
    """Collects prepared crops per width bucket and runs them in shared batches on ``executor``.

    ``run_bucket`` runs one recognizer batch (all crops of one width) and returns their readings; it is called
    on the executor's thread.
    """

    def __init__(self, run_bucket: RunBucket, executor: Executor, max_size: int, max_delay_s: float) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self._run_bucket = run_bucket
        self._executor = executor
        self.max_size = max_size
        self.max_delay_s = max_delay_s
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()
        self._callers = 0
        self.stats = BatchStats()

    async def read(self, prepared: Sequence[Prepared]) -> list[Reading]:
        """Readings of ``prepared`` crops, in order; each crop may share a batch with other callers' crops."""
        if not prepared:
            return []
        loop = asyncio.get_running_loop()
        self._callers += 1
        caller = self._callers
        futures = []
        with self._lock:
            for item in prepared:
                width = int(item[0].shape[2])
                pending = _Pending(item, loop.create_future(), caller)
                futures.append(pending.future)
                bucket = self._buckets.setdefault(width, _Bucket())
                bucket.items.append(pending)
                if len(bucket.items) >= self.max_size * (bucket.jobs + 1):
                    self._submit_locked(width, bucket, loop)
                elif bucket.jobs == 0 and bucket.timer is None:
                    bucket.timer = loop.call_later(self.max_delay_s, self._on_timer, width, loop)
        try:
            return list(await asyncio.gather(*futures))
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    @property
    def pending(self) -> int:
        """Crops queued and not yet taken by a model run (a metrics gauge; read without the lock)."""
        return sum(len(bucket.items) for bucket in list(self._buckets.values()))

    def size_counts(self) -> dict[int, int]:
        """Batches run per size since start (a copy, for server.metrics)."""
        with self._lock:
            return dict(self.stats.size_counts)

    def _on_timer(self, width: int, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            bucket = self._buckets.get(width)
            if bucket is not None:
                bucket.timer = None
                if bucket.items and bucket.jobs == 0:
                    self._submit_locked(width, bucket, loop)

    def _submit_locked(self, width: int, bucket: _Bucket, loop: asyncio.AbstractEventLoop) -> None:
        if bucket.timer is not None:
            bucket.timer.cancel()
            bucket.timer = None
        bucket.jobs += 1
        self._executor.submit(self._job, width, loop)

    def _job(self, width: int, loop: asyncio.AbstractEventLoop) -> None:
        """On the executor thread: take the bucket's crops as they are now, run them, hand back the readings."""
        with self._lock:
            bucket = self._buckets.get(width)
            if bucket is None:
                return
            bucket.jobs -= 1
            live = [p for p in bucket.items if not p.future.done()]
            self.stats.dropped += len(bucket.items) - len(live)
            take, rest = live[: self.max_size], live[self.max_size:]
            bucket.items = rest
            if not rest and bucket.jobs == 0:
                if bucket.timer is not None:
                    bucket.timer.cancel()
                del self._buckets[width]
            elif rest and bucket.jobs == 0:  # these waited while the model was busy: run them next
                self._submit_locked(width, bucket, loop)
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
            readings = self._run_bucket([p.prepared for p in take])
        except Exception as exc:  # every caller of this batch gets the failure
            loop.call_soon_threadsafe(self._deliver, take, None, exc)
            return
        loop.call_soon_threadsafe(self._deliver, take, readings, None)

    @staticmethod
    def _deliver(take: list[_Pending], readings: list[Reading] | None, error: Exception | None) -> None:
        for k, p in enumerate(take):
            if p.future.done():
                continue
            if error is not None:
                p.future.set_exception(error)
            else:
                p.future.set_result(readings[k])  # type: ignore[index]
