"""Dynamic batching of text-line recognition across concurrent requests (asyncio, free of grpc).

Each crop is padded to a width that depends on the crop alone (its bucket, see edge_runtime/recognize.py), so
crops from different requests that share a bucket can share one recognizer run without changing any answer.
A bucket is run as soon as it holds ``max_size`` crops, or ``max_delay_s`` after its oldest crop arrived.
Crops whose caller went away (cancelled: deadline passed, client gone) are dropped before the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Sequence

import numpy as np

from edge_runtime.recognize import Reading

__all__ = ["RecognitionBatcher", "BatchStats"]

Prepared = tuple[np.ndarray, int]  # (3 x H x bucket_width blob, content width), from recognize.preprocess
RunBucket = Callable[[Sequence[Prepared]], Awaitable[list[Reading]]]


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    largest: int = 0
    dropped: int = 0  # crops whose caller was gone before their batch ran
    sizes: list[int] = field(default_factory=list)  # recent batch sizes (last 256)


@dataclass
class _Pending:
    prepared: Prepared
    future: asyncio.Future


class RecognitionBatcher:
    """Collects prepared crops per width bucket and runs them in shared batches.

    ``run_bucket`` runs one recognizer batch (all of one width) off the event loop and returns its readings.
    """

    def __init__(self, run_bucket: RunBucket, max_size: int, max_delay_s: float) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self._run_bucket = run_bucket
        self.max_size = max_size
        self.max_delay_s = max_delay_s
        self._buckets: dict[int, list[_Pending]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        self.stats = BatchStats()

    async def read(self, prepared: Sequence[Prepared]) -> list[Reading]:
        """Readings of ``prepared`` crops, in order; each crop may share a batch with other callers' crops."""
        if not prepared:
            return []
        loop = asyncio.get_running_loop()
        futures = []
        for item in prepared:
            future = loop.create_future()
            self._add(int(item[0].shape[2]), _Pending(item, future))
            futures.append(future)
        try:
            return list(await asyncio.gather(*futures))
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def _add(self, width: int, pending: _Pending) -> None:
        bucket = self._buckets.setdefault(width, [])
        bucket.append(pending)
        if len(bucket) >= self.max_size:
            self._flush(width)
        elif width not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[width] = loop.call_later(self.max_delay_s, self._flush, width)

    def _flush(self, width: int) -> None:
        timer = self._timers.pop(width, None)
        if timer is not None:
            timer.cancel()
        bucket = self._buckets.pop(width, [])
        live = [p for p in bucket if not p.future.done()]
        self.stats.dropped += len(bucket) - len(live)
        while live:
            chunk, live = live[: self.max_size], live[self.max_size:]
            task = asyncio.get_running_loop().create_task(self._run(chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, chunk: list[_Pending]) -> None:
        live = [p for p in chunk if not p.future.done()]
        if not live:
            return
        stats = self.stats
        stats.batches += 1
        stats.items += len(live)
        stats.largest = max(stats.largest, len(live))
        stats.sizes = (stats.sizes + [len(live)])[-256:]
        try:
            readings = await self._run_bucket([p.prepared for p in live])
        except BaseException as exc:  # every caller of this batch gets the failure
            for p in live:
                if not p.future.done():
                    p.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("batch cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for p, reading in zip(live, readings):
            if not p.future.done():
                p.future.set_result(reading)

    async def close(self) -> None:
        """Wait for batches already running."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
