"""Admission by memory: each unit of work reserves what it will cost before it decodes, under one byte budget.

The cost of an image is known from its header before any pixel is decoded (``image_cost``): the decoded page and
its transient copies, the detector's input tensor and probability map at the detector's input size, and the
runtime's own buffers for that run, which grow with the same pixels. Work that does not fit waits in arrival order
(``MemoryBudget.reserve``: an asyncio future per waiter, woken by releases, no polling); one item larger than the
whole budget is refused at once (``MEMORY_BUDGET_EXCEEDED``), and a waiter whose deadline would pass before it could
be admitted and computed is refused then (``DEADLINE_BEFORE_ADMISSION``), both RESOURCE_EXHAUSTED (server.errors).
Stream frames, computed on worker threads that must never block, take what fits now or are refused
(``MEMORY_BUSY``; the stream goes on).

The budget defaults to a share of the memory the host (or its cgroup) has free once the models are loaded, capped
so that the warmed models, the budget and the runtime's headroom stay under 1.5 GB, and never below what one A4
page scanned at 300 dpi costs (``default_budget``); or it is set with ``--memory-budget-mb`` (0: off).
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import io
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.errors import OverloadedError

__all__ = [
    "MemoryBudget",
    "MemoryBudgetError",
    "image_cost",
    "recognizer_wave_bytes",
    "encoded_size",
    "default_budget",
    "available_memory",
    "resident_memory",
    "steady_allocator",
    "MIB",
]

MIB = 1024 * 1024
# Bytes per decoded pixel held at the decode's peak: the PIL image, its RGB array and the BGR array (3 bytes each)
DECODE_BYTES_PER_PIXEL = 9
# Bytes per detector-input pixel: input tensor and its resize (~22), probability map and post-processing masks
# (~6), the runtime's activations for that run (~80); measured by bench/memory_breakdown.py (docs/memory.md)
DETECT_BYTES_PER_PIXEL = 108
CROPS_BYTES_PER_PIXEL = 2  # line crops and their recognizer tensors, relative to the decoded page's pixels
REC_COLUMNS_PER_STEP = 8  # the recognizers (CRNN, SVTR) emit one time step per 8 input columns
MIN_COST = 1 * MIB  # an image too small or too broken to size still holds its message and a thread's buffers
DEFAULT_SHARE = 0.25  # of the memory available once the models are loaded
DEFAULT_CAP = 640 * MIB  # no larger by default, whatever the host has free
DEFAULT_TARGET_RSS = 1_500_000_000  # 1.5 GB: the default keeps the server's resident memory under this (issue 27) ...
# ... less what the server holds beyond the charges: measured at 16 clients on document pages, the peak stood
# 420-470 MiB (in-process) and 606-680 MiB (the gRPC server) above the warmed models plus the budget (docs/memory.md)
RUNTIME_HEADROOM = 640 * MIB


class MemoryBudgetError(OverloadedError):
    """Work the memory budget cannot take: larger than the whole budget, or not admitted before its deadline."""

    reason = "MEMORY_BUDGET_EXCEEDED"


def encoded_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an encoded image's header without decoding its pixels; None when unreadable."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                return img.width, img.height
    except Exception:  # an unreadable header is the decoder's to report, with its reason
        return None


def recognizer_wave_bytes(columns: int, values: int) -> int:
    """Bytes of one wave of recognizer outputs (float32 time steps x values a step) as the call holds them."""
    return (columns // REC_COLUMNS_PER_STEP) * values * 4


def image_cost(width: int, height: int, detector_input: tuple[int, int] | None, reading: int = 0) -> int:
    """Bytes an image costs at its peak: decoded (and its transient copies), the detector's run at its input size
    (``detector_input``: (height, width), None when detection is skipped), its line crops and ``reading``: one
    wave of recognizer outputs (``recognizer_wave_bytes``)."""
    pixels = width * height
    cost = pixels * (DECODE_BYTES_PER_PIXEL + CROPS_BYTES_PER_PIXEL) + reading
    if detector_input is not None:
        cost += detector_input[0] * detector_input[1] * DETECT_BYTES_PER_PIXEL
    return max(MIN_COST, cost)


def steady_allocator() -> bool:
    """On glibc: a fixed mmap threshold (128 KiB) and two malloc arenas, so that freed arrays go back to the system
    at once. By default glibc raises the threshold after each large free (up to 32 MiB), and pages, tensors and
    logits then come from per-thread arenas that keep their peak: measured, 2 clients on document pages held
    ~1.97 GB mean / 2.58 GB peak, 1.46 / 1.95 with this (docs/memory.md). False where it does not apply."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_mmap_threshold, m_arena_max = -3, -8  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 128 * 1024)) and bool(mallopt(m_arena_max, 2))


def available_memory() -> int:
    """Bytes this process could still use: MemAvailable, or less where a cgroup (v2 or v1) limit says so."""
    available = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            left = max(0, int(limit) - usage)
            available = min(available, left) if available else left
    return available


def resident_memory() -> int:
    """Bytes this process holds resident now (VmRSS); 0 where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def default_budget(
    floor: int = 0,
    share: float = DEFAULT_SHARE,
    cap: int = DEFAULT_CAP,
    resident: int | None = None,
    target: int = DEFAULT_TARGET_RSS,
) -> int:
    """The budget when none is set: ``share`` of what is available now (after the models loaded), at most ``cap``
    and at most what keeps the process under ``target``: the target less ``resident`` (what it holds now, the
    models warmed; read from /proc by default) less ``RUNTIME_HEADROOM``; and at least ``floor`` (the cost of the
    largest page the server should always take, so none is refused)."""
    resident = resident_memory() if resident is None else resident
    limit = min(cap, target - resident - RUNTIME_HEADROOM) if resident else cap
    free = int(share * available_memory())
    return max(floor, MIN_COST, min(limit, free) if free else limit)


@dataclass
class _Waiter:
    cost: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False


class MemoryBudget:
    """Bytes of work in progress, held under ``capacity`` (0: no budget, everything is admitted at once).

    Thread-safe: reservations are taken on the event loop and, for stream frames, on worker threads; a release
    wakes the waiters at the head of the queue that now fit, in order (a large waiter at the head is not passed by
    smaller ones behind it, so it cannot starve)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._lock = threading.Lock()
        self._held = 0
        self._queue: collections.deque[_Waiter] = collections.deque()
        self.admitted_total = 0  # bytes admitted since start (a counter)
        self.refused = 0
        self._hold_s = 0.0  # moving average of how long an admitted unit holds its bytes (the deadline's guess)

    @property
    def held(self) -> int:
        return self._held

    @property
    def waiters(self) -> int:
        return len(self._queue)

    @property
    def expected_hold_s(self) -> float:
        return self._hold_s

    def _fits(self, cost: int) -> bool:
        return self._held + cost <= self.capacity or self._held == 0

    def _check(self, cost: int) -> None:
        if self.capacity and cost > self.capacity:
            self.refused += 1
            raise MemoryBudgetError(
                f"this item needs about {cost / MIB:,.0f} MiB, more than the server's whole memory budget of "
                f"{self.capacity / MIB:,.0f} MiB (--memory-budget-mb)"
            )

    @asynccontextmanager
    async def reserve(self, cost: int, deadline: float | None = None) -> AsyncIterator[None]:
        """Hold ``cost`` bytes for the body; waits in order while they do not fit. ``deadline``: a
        time.monotonic() instant; a waiter is refused once it could no longer be admitted and computed by then."""
        if not self.capacity:
            yield
            return
        self._check(cost)
        loop = asyncio.get_running_loop()
        with self._lock:
            waiter = None
            if not self._queue and self._fits(cost):
                self._held += cost
            else:
                waiter = _Waiter(cost, loop, loop.create_future())
                self._queue.append(waiter)
        if waiter is not None:
            await self._wait(waiter, deadline)
        started = time.monotonic()
        self.admitted_total += cost
        try:
            yield
        finally:
            held_s = time.monotonic() - started
            self._hold_s = held_s if not self._hold_s else self._hold_s + (held_s - self._hold_s) * 0.1
            self.release(cost)

    async def _wait(self, waiter: _Waiter, deadline: float | None) -> None:
        timeout = None if deadline is None else deadline - time.monotonic() - self._hold_s
        try:
            if timeout is not None and timeout <= 0:
                raise TimeoutError
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._queue.remove(waiter)
            if granted and not isinstance(exc, asyncio.CancelledError):
                return  # admitted in the same instant as the timeout: go on
            if granted:  # admitted as the caller went away: give the bytes back (and wake whoever fits now)
                self.release(waiter.cost)
            else:
                self._grant()  # the head may have been the one blocking smaller waiters behind it
            if isinstance(exc, asyncio.CancelledError):
                raise
            self.refused += 1
            raise MemoryBudgetError(
                f"waited for {waiter.cost / MIB:,.0f} MiB of the memory budget; the call's deadline would pass "
                f"before its work could be done",
                "DEADLINE_BEFORE_ADMISSION",
            ) from None

    @contextmanager
    def take_now(self, cost: int) -> Iterator[None]:
        """Hold ``cost`` bytes if they fit now and nobody waits ahead; else refused ``MEMORY_BUSY``. For work on
        worker threads (stream frames), which must not block the threads the admitted work needs."""
        if not self.capacity:
            yield
            return
        self._check(cost)
        with self._lock:
            if self._queue or not self._fits(cost):
                self.refused += 1
                raise MemoryBudgetError(
                    f"the memory budget is in use ({self._held / MIB:,.0f} of {self.capacity / MIB:,.0f} MiB, "
                    f"{len(self._queue)} waiting); this frame is skipped",
                    "MEMORY_BUSY",
                )
            self._held += cost
        self.admitted_total += cost
        try:
            yield
        finally:
            self.release(cost)

    def release(self, cost: int) -> None:
        with self._lock:
            self._held -= cost
        self._grant()

    def _grant(self) -> None:
        """Admit the waiters at the head of the queue that fit now, in order."""
        woken = []
        with self._lock:
            while self._queue and self._fits(self._queue[0].cost):
                waiter = self._queue.popleft()
                waiter.granted = True
                self._held += waiter.cost
                woken.append(waiter)
        for waiter in woken:
            waiter.loop.call_soon_threadsafe(_wake, waiter.future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
