"""Per-stream flow control between a frame producer and the OCR worker, usable from threads and asyncio alike.

Three modes, one bounded structure:

    LATEST_ONLY  capacity 1, a newer frame replaces the waiting one (dropped)   camera default, lowest latency
    QUEUE        capacity N, when full the oldest waiting frame is dropped      smooths bursts, bounded latency
    ALL          capacity N, when full the producer waits (back-pressure)       lossless, latency grows

Producers and consumers may be threads (``put``/``get``) or coroutines (``aput``/``aget``), mixed freely:
the state sits behind one ``threading.Lock`` held only for a few list operations, thread waiters sleep on
a ``threading.Condition`` and coroutine waiters on a future woken with ``call_soon_threadsafe``.

``close()`` says the producer is done (the consumer drains what is left, then sees the end);
``cancel()`` discards everything at once and wakes every waiter with ``FlowCancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["FlowMode", "FlowQueue", "Delivery", "FlowClosed", "FlowCancelled", "FlowStats"]

T = TypeVar("T")


class FlowMode(enum.StrEnum):
    """What happens to frames that arrive while the worker is busy."""

    LATEST_ONLY = "LATEST_ONLY"
    QUEUE = "QUEUE"
    ALL = "ALL"


class FlowClosed(Exception):  # noqa: N818 - an end-of-flow signal, like StopIteration
    """The producer closed the flow and every frame has been delivered (or ``put`` after ``close``)."""


class FlowCancelled(Exception):  # noqa: N818 - a signal to stop, like CancelledError
    """The flow was cancelled; waiting frames were discarded."""


@dataclass(frozen=True)
class Delivery(Generic[T]):
    """A frame handed to the consumer, with what flow control did around it."""

    item: T
    queue_wait_ms: float  # from put() to get()
    dropped_total: int  # frames dropped by this flow so far
    dropped_since_last: int  # frames dropped since the previous delivery


@dataclass(frozen=True)
class FlowStats:
    put: int
    delivered: int
    dropped: int
    waiting: int


class _Slot(Generic[T]):
    __slots__ = ("item", "at")

    def __init__(self, item: T, at: float) -> None:
        self.item = item
        self.at = at


class FlowQueue(Generic[T]):
    """Bounded hand-over of frames from one producer to one consumer under a ``FlowMode``."""

    def __init__(self, mode: FlowMode | str = FlowMode.LATEST_ONLY, size: int = 8) -> None:
        self.mode = FlowMode(mode)
        if size < 1:
            raise ValueError("flow queue size must be >= 1")
        self.capacity = 1 if self.mode is FlowMode.LATEST_ONLY else size
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._slots: deque[_Slot[T]] = deque()
        self._async_getters: list[asyncio.Future[None]] = []
        self._async_putters: list[asyncio.Future[None]] = []
        self._closed = False
        self._cancelled = False
        self._put = self._delivered = self._dropped = self._dropped_reported = 0

    # ---- state --------------------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def closed(self) -> bool:
        return self._closed or self._cancelled

    def stats(self) -> FlowStats:
        with self._lock:
            return FlowStats(self._put, self._delivered, self._dropped, len(self._slots))

    # ---- producer -----------------------------------------------------------------------------------
    def put(self, item: T, timeout: float | None = None) -> bool:
        """Offer a frame. Never blocks except in ALL mode while full; False if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                self._check_open()
                if self._try_put(item):
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._not_full.wait(remaining)

    async def aput(self, item: T) -> None:
        """Coroutine form of ``put``: awaits only in ALL mode while the queue is full."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                self._check_open()
                if self._try_put(item):
                    return
                waiter: asyncio.Future[None] = loop.create_future()
                self._async_putters.append(waiter)
            try:
                await waiter
            finally:
                self._forget(self._async_putters, waiter)

    def close(self) -> None:
        """No more frames: the consumer receives what is waiting, then ``FlowClosed``."""
        with self._lock:
            self._closed = True
            self._wake_all()

    def cancel(self) -> None:
        """Drop every waiting frame now and wake all waiters with ``FlowCancelled``. Idempotent."""
        with self._lock:
            self._cancelled = True
            self._slots.clear()
            self._wake_all()

    # ---- consumer -----------------------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> Delivery[T]:
        """The oldest waiting frame; blocks while empty. Raises FlowClosed, FlowCancelled or TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                delivery = self._try_get()
                if delivery is not None:
                    return delivery
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no frame within the timeout")
                self._not_empty.wait(remaining)

    async def aget(self) -> Delivery[T]:
        """Coroutine form of ``get``."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                delivery = self._try_get()
                if delivery is not None:
                    return delivery
                waiter: asyncio.Future[None] = loop.create_future()
                self._async_getters.append(waiter)
            try:
                await waiter
            finally:
                self._forget(self._async_getters, waiter)

    # ---- internals (lock held) ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._cancelled:
            raise FlowCancelled("stream cancelled")
        if self._closed:
            raise FlowClosed("put after close")

    def _try_put(self, item: T) -> bool:
        if len(self._slots) >= self.capacity:
            if self.mode is FlowMode.ALL:
                return False
            self._slots.popleft()  # LATEST_ONLY and QUEUE: the oldest waiting frame gives way
            self._dropped += 1
        self._slots.append(_Slot(item, time.monotonic()))
        self._put += 1
        self._not_empty.notify()
        self._wake(self._async_getters)
        return True

    def _try_get(self) -> Delivery[T] | None:
        if self._cancelled:
            raise FlowCancelled("stream cancelled")
        if not self._slots:
            if self._closed:
                raise FlowClosed("stream ended")
            return None
        slot = self._slots.popleft()
        self._delivered += 1
        since = self._dropped - self._dropped_reported
        self._dropped_reported = self._dropped
        self._not_full.notify()
        self._wake(self._async_putters)
        return Delivery(slot.item, (time.monotonic() - slot.at) * 1000.0, self._dropped, since)

    def _wake_all(self) -> None:
        self._not_empty.notify_all()
        self._not_full.notify_all()
        self._wake(self._async_getters)
        self._wake(self._async_putters)

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        # Waiters re-check the state themselves, so waking all of them is always correct.
        for waiter in waiters:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody is waiting any more
                waiter.get_loop().call_soon_threadsafe(_resolve, waiter)
        waiters.clear()

    def _forget(self, waiters: list[asyncio.Future[None]], waiter: asyncio.Future[None]) -> None:
        with self._lock, contextlib.suppress(ValueError):  # already woken and cleared
            waiters.remove(waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
