"""Protocol-neutral data plane: admission, deadlines, decoding and the staged pipeline with dynamic batching.

Free of grpc: the servicer converts messages and maps errors; everything here speaks domain types and raises
``edge_runtime.errors`` exceptions. A call runs the engine's own sequence (``OcrEngine.page_steps``): its work
between model runs on the CPU pool (``decode_threads``), its model runs started by one dispatcher (the
inference executor) on the model's lanes, where a run alone gets every core and overlapping runs go side by
side on one-thread streams (``edge_runtime.backends.base.Lanes``), or batched across calls first
(``batch_stages``, ``server.batcher``). So one call's pre- and post-processing overlaps other calls' inference.

Admission counts units of work against ``max_concurrent_rpcs``: a unary call holds a slot for its life, a
stream frame only while it is computed (``frame_slot``). An open stream holds no slot; open streams are counted
apart (at most ``max_concurrent_rpcs`` of them), and their frames take turns, one frame per stream, in the
``streams`` scheduler in front of the inference executor, ``inference_threads`` frames at a time, so streams
never hold more than that many slots, however many cameras are open.

Memory (``server.memory_budget``): every image (a call's, a batch item's, a document page's) reserves what it will
cost, sized from its header before it is decoded, for as long as its sequence runs; what does not fit waits in
order. A stream frame takes its share only if it fits at once (worker threads never wait for memory).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import numpy as np

from edge_runtime import detect
from edge_runtime.errors import DeadlineExceededError, NotReadyError, OverloadedError
from edge_runtime.fields.reread import reread_source_steps
from edge_runtime.pipeline import Answer, OcrEngine, Run, Steps
from edge_runtime.stream.scheduler import FrameScheduler
from edge_runtime.types import OcrResult, RawImage, TextLine
from server.batcher import Batcher
from server.config import ServerConfig
from server.memory_budget import (
    MIB,
    MIN_COST,
    MemoryBudget,
    default_budget,
    encoded_size,
    image_cost,
    recognizer_wave_bytes,
)
from server.model_status import ModelStatus

__all__ = ["OcrPlane", "ImageSource", "PlaneStats", "Generation", "DOCUMENT_MEMORY_FACTOR", "source_cost"]

DOCUMENT_MEMORY_FACTOR = 4  # all documents held at once: this many times the largest one (--max-document-bytes)
A4_300DPI = (2480, 3508)  # the default memory budget always admits one such page (width, height)

log = logging.getLogger(__name__)


ImageSource = bytes | RawImage  # what a request carries: encoded bytes or raw pixels


@dataclass
class PlaneStats:
    images: int = 0  # images computed to the end (success or bad image)
    detections: int = 0  # detector runs
    recognitions: int = 0  # recognizer runs (batches of text lines)
    expired: int = 0  # work skipped because its deadline had passed
    cancelled: int = 0  # calls whose caller went away mid-way
    overloaded: int = 0  # calls (and stream frames) refused by admission control
    stream_frames: int = 0  # stream frames admitted to the models


@dataclass(frozen=True)
class Generation:
    """One loaded engine and the batchers its runs share: what a call runs on from its start to its end.

    ``swap`` replaces the plane's generation in one assignment, so calls started before it finish on the old
    models and calls started after it run on the new ones (the answers switch at one point in time); the old
    engine is freed when its last call lets go of it."""

    number: int  # 1 for the models loaded at start, +1 per swap
    engine: OcrEngine
    batchers: dict[str, Batcher]


class OcrPlane:
    """Runs recognition for any transport. Not ready until ``load()`` has built and warmed the engine."""

    def __init__(self, engine_factory: Callable[[], OcrEngine], config: ServerConfig) -> None:
        self._engine_factory = engine_factory
        self.config = config
        self._generation: Generation | None = None
        self.model_status = ModelStatus()  # generation, last change, background gate (server.models_watch)
        self.stats = PlaneStats()
        self._infer = ThreadPoolExecutor(config.inference_threads, thread_name_prefix="ocr-infer")
        self._cpu = ThreadPoolExecutor(config.decode_threads, thread_name_prefix="ocr-cpu")
        self._sizes: dict[str, dict[int, int]] = {}  # stage -> {rows per run: runs started}
        # frames of all open streams, one per stream in turn, a few at a time, on the inference executor
        self.streams = FrameScheduler(self._infer, config.inference_threads)
        self._slots = threading.Lock()  # _active, _streams and _sizes change on the event loop and worker threads
        self._active = 0
        self._streams = 0
        self._ready = threading.Event()
        self.draining = False
        self._document_bytes = 0  # bytes of documents held by RecognizeDocument calls (received or being read)
        # what images in progress may hold; a budget derived from the host is sized once the models are loaded
        self.memory = MemoryBudget(int(max(0.0, config.memory_budget_mb) * MIB))

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def load(self) -> OcrEngine:
        """Build the engine and warm it up (off the event loop); then the plane is ready. Returns the engine."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        engine = await loop.run_in_executor(self._infer, self._engine_factory)
        await loop.run_in_executor(self._infer, engine.warm_up)
        self.swap(engine)
        if self.config.memory_budget_mb < 0:  # auto: a share of what the host has left with the models loaded
            self.memory.capacity = default_budget(floor=source_cost(engine, RawImage(b"", *A4_300DPI, "BGR8")))
        log.info("memory budget: %s", f"{self.memory.capacity / MIB:,.0f} MiB" if self.memory.capacity else "off")
        self._ready.set()
        log.info("models ready in %.1f s: %s", time.perf_counter() - started, engine.provenance)
        return engine

    def swap(self, engine: OcrEngine) -> Generation:
        """Serve ``engine`` (loaded and warmed) from now on; calls in flight finish on the models they started
        with. Returns the new generation."""
        max_size = self.config.batch_max_size or engine.config.rec_batch_size
        batchers = {
            stage: Batcher(
                functools.partial(self._start_rows, engine, stage),
                self._infer,
                max_size,
                self.config.batch_max_delay_ms / 1000.0,
            )
            for stage in self.config.batched_stages(engine.config.device)
        }
        previous = self._generation
        self._generation = Generation((previous.number + 1) if previous else 1, engine, batchers)
        self.model_status.generation = self._generation.number
        return self._generation

    @property
    def engine_factory(self) -> Callable[[], OcrEngine]:
        """What builds this plane's engine (a model change builds the new one with it)."""
        return self._engine_factory

    @property
    def generation(self) -> Generation | None:
        return self._generation

    @property
    def engine(self) -> OcrEngine | None:
        """The engine new calls run on (None until loaded)."""
        return self._generation.engine if self._generation is not None else None

    def current_engine(self) -> OcrEngine:
        """The engine new work runs on (a stream asks before each frame, so it follows a model swap)."""
        engine = self.engine
        if engine is None:
            raise NotReadyError("models are loading or warming up; retry shortly")
        return engine

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def batcher(self) -> Batcher | None:
        """The recognizer's cross-call batcher (None where its runs are not shared)."""
        return self.batchers.get("rec")

    @property
    def batchers(self) -> dict[str, Batcher]:
        return dict(self._generation.batchers) if self._generation is not None else {}

    async def close(self) -> None:
        self._infer.shutdown(wait=False, cancel_futures=True)
        self._cpu.shutdown(wait=False, cancel_futures=True)

    # ---- admission ----------------------------------------------------------------------------------
    def _open(self) -> OcrEngine:
        if self.draining:
            raise NotReadyError("server is shutting down", "SHUTTING_DOWN")
        if not self.ready or self.engine is None:
            raise NotReadyError("models are loading or warming up; retry shortly")
        return self.engine

    def _take_slot(self, what: str) -> None:
        with self._slots:
            if self._active >= self.config.max_concurrent_rpcs:
                self.stats.overloaded += 1
                raise OverloadedError(
                    f"{self._active} calls in progress, the limit is {self.config.max_concurrent_rpcs}; {what} refused"
                )
            self._active += 1

    def _give_slot(self) -> None:
        with self._slots:
            self._active -= 1

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[OcrEngine]:
        """One call's slot: refuses while loading, draining or when ``max_concurrent_rpcs`` calls are active."""
        engine = self._open()
        self._take_slot("call")
        try:
            yield engine
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        finally:
            self._give_slot()

    @asynccontextmanager
    async def stream_opened(self) -> AsyncIterator[OcrEngine]:
        """One open stream: no admission slot (its frames take one each, see ``frame_slot``); refuses while
        loading, draining or when ``max_concurrent_rpcs`` streams are open."""
        engine = self._open()
        with self._slots:
            if self._streams >= self.config.max_concurrent_rpcs:
                self.stats.overloaded += 1
                raise OverloadedError(f"{self._streams} streams open, the limit is {self.config.max_concurrent_rpcs}")
            self._streams += 1
        try:
            yield engine
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        finally:
            with self._slots:
                self._streams -= 1

    @contextmanager
    def frame_slot(self, cost: int = 0) -> Iterator[None]:
        """A stream frame's slot and its ``cost`` in bytes of the memory budget while its models run (on the worker
        thread): OVERLOADED when every slot is taken, MEMORY_BUSY when its bytes do not fit now; either fails that
        frame only."""
        self._take_slot("stream frame")
        try:
            with self.memory.take_now(cost):
                self.stats.stream_frames += 1
                yield
        finally:
            self._give_slot()

    def cost_of(self, source: ImageSource | np.ndarray | None, skip_detection: bool = False) -> int:
        """Bytes ``source`` will hold on the models serving now (``source_cost``); the minimum before loading."""
        return source_cost(self.engine, source, skip_detection) if self.engine is not None else MIN_COST

    @contextmanager
    def document_memory(self) -> Iterator[Callable[[int], None]]:
        """A document call's share of the bytes all documents may hold at once (``DOCUMENT_MEMORY_FACTOR`` times
        ``max_document_bytes``): the call takes bytes as its chunks arrive (``take(n)``), gives them back when it
        ends. Past the budget it is refused OVERLOADED, so many large uploads at once cannot exhaust memory."""
        held = 0
        budget = DOCUMENT_MEMORY_FACTOR * self.config.max_document_bytes

        def take(size: int) -> None:
            nonlocal held
            with self._slots:
                if self._document_bytes + size > budget:
                    self.stats.overloaded += 1
                    raise OverloadedError(
                        f"documents in progress hold {self._document_bytes:,} bytes; with {size:,} more they would "
                        f"pass the server's {budget:,}"
                    )
                self._document_bytes += size
                held += size

        try:
            yield take
        finally:
            with self._slots:
                self._document_bytes -= held

    @property
    def document_bytes(self) -> int:
        return self._document_bytes

    @property
    def active_calls(self) -> int:
        """Units of work holding a slot: unary calls and stream frames being computed."""
        return self._active

    @property
    def open_streams(self) -> int:
        return self._streams

    # ---- pipeline -----------------------------------------------------------------------------------
    async def recognize(
        self, source: ImageSource, skip_detection: bool = False, deadline: float | None = None
    ) -> OcrResult:
        """One image through the engine's own sequence (``OcrEngine.page_steps``), as async stages: its work
        between model runs (decoding, resizing, DB post-processing, crop warping, CTC decoding) on the CPU
        pool, its model runs on the model lanes, batched with other calls' where ``batch_stages`` says.

        ``deadline`` is a time.monotonic() instant; work that would start after it is not done.
        """
        generation = self._generation  # this call's models, whatever a swap does meanwhile
        if generation is None:
            raise NotReadyError("models are loading or warming up; retry shortly")
        self._check(deadline)
        async with self.memory.reserve(source_cost(generation.engine, source, skip_detection), deadline):
            result, waited = await self._steps(generation, source, skip_detection, deadline)
        result.timings_ms["queue"] = round(waited * 1000, 3)  # waits for a CPU thread, within the stages
        self.stats.images += 1
        return result

    async def reread_header(
        self, source: ImageSource, lines: Sequence[TextLine], deadline: float | None = None
    ) -> list[TextLine]:
        """A receipt's header lines read a second time (``edge_runtime.fields.reread``: two more cuts of each,
        the reading two of three agree on), for its key fields: the image is decoded again, admitted by its
        memory cost like any image, and its model runs go through the same lanes and batchers."""
        generation = self._generation
        if generation is None:
            raise NotReadyError("models are loading or warming up; retry shortly")
        self._check(deadline)
        engine = generation.engine
        async with self.memory.reserve(source_cost(engine, source, skip_detection=True), deadline):
            again, _ = await self._drive(generation, reread_source_steps(engine, source, lines), deadline)
        return again

    async def _steps(
        self, generation: Generation, source: ImageSource, skip_detection: bool, deadline: float | None
    ) -> tuple[OcrResult, float]:
        """The sequence, decoded only now (admitted); returns its result and its waits for a CPU thread."""
        return await self._drive(generation, generation.engine.page_steps(source, skip_detection), deadline)

    async def _drive(
        self, generation: Generation, steps: Steps[Answer], deadline: float | None
    ) -> tuple[Answer, float]:
        """A sequence's CPU work on the pool and its model runs on the lanes; its answer and its waits for a CPU
        thread. The plane lets go of each model input and output as soon as the sequence has them (free early)."""
        loop = asyncio.get_running_loop()
        waited = 0.0
        box: list[list[np.ndarray]] = []  # the outputs being handed over: the sequence is their only holder
        while True:
            self._check(deadline)
            submitted = time.perf_counter()
            runs, result, started = await loop.run_in_executor(self._cpu, _advance, steps, box)
            waited += started - submitted
            if result is not None:
                return result, waited
            self._check(deadline)
            box.append(list(await asyncio.gather(*(self._run(generation, run, len(runs) > 1) for run in runs))))
            del runs  # the model inputs: no longer needed once their outputs are in

    async def _run(self, generation: Generation, run: Run, spread: bool) -> np.ndarray:
        """One model run: through its stage's cross-call batcher, or straight to the model lanes."""
        batcher = generation.batchers.get(run.stage)
        if batcher is not None:
            return await batcher.run(run.blob)
        loop = asyncio.get_running_loop()
        started = await loop.run_in_executor(self._infer, self._start, generation.engine, run, spread)
        return (await asyncio.wrap_future(started))[0]

    def _start(self, engine: OcrEngine, run: Run, spread: bool = False) -> Future[list[np.ndarray]]:
        """On the dispatcher: start a run (waits while every lane of its model is busy)."""
        if run.stage == "det":
            self.stats.detections += 1
        elif run.stage == "rec":
            self.stats.recognitions += 1
        with self._slots:
            sizes = self._sizes.setdefault(run.stage, {})
            sizes[len(run.blob)] = sizes.get(len(run.blob), 0) + 1
        return engine.submit(run, spread)

    def run_sizes(self, stage: str) -> dict[int, int]:
        """Model runs started per number of rows (text lines, images) since start, for ``stage`` (metrics)."""
        with self._slots:
            return dict(self._sizes.get(stage, {}))

    @property
    def queued_lines(self) -> int:
        """Text lines waiting for a cross-call recognizer batch (a metrics gauge)."""
        return self.batcher.pending if self.batcher is not None else 0

    def _start_rows(self, engine: OcrEngine, stage: str, rows: np.ndarray) -> Future[np.ndarray]:
        """On the dispatcher: start a batcher's run of stacked rows; its future: the first output."""
        started = self._start(engine, Run(stage, rows))
        first: Future[np.ndarray] = Future()
        started.add_done_callback(
            lambda done: (
                first.set_exception(done.exception()) if done.exception() else first.set_result(done.result()[0])
            )
        )
        return first

    async def recognize_many(
        self, items: Sequence[tuple[ImageSource, bool]], deadline: float | None = None
    ) -> list[OcrResult | Exception]:
        """Several images at once (their runs overlap, or batch, with each other and with other calls'). A
        failed image yields its exception in place of its result (a bad image, or an internal failure), so the
        others still answer; only a passed deadline fails the whole call."""

        async def one(source: ImageSource, skip: bool) -> OcrResult | Exception:
            try:
                return await self.recognize(source, skip, deadline)
            except DeadlineExceededError:
                raise
            except Exception as exc:
                return exc

        return list(await asyncio.gather(*(one(s, k) for s, k in items)))

    def _check(self, deadline: float | None) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            self.stats.expired += 1
            raise DeadlineExceededError("the call's deadline passed before its work could start")


def source_cost(engine: OcrEngine, source: ImageSource | np.ndarray | None, skip_detection: bool = False) -> int:
    """Bytes ``source`` will hold at its peak on ``engine``, from its header (encoded) or its declared size (raw),
    before any pixel is decoded; an image the decoder will refuse for its size (empty, too large) costs the minimum,
    so that its own reason answers."""
    if isinstance(source, RawImage):
        size: tuple[int, int] | None = (source.width, source.height)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        size = encoded_size(bytes(source))
    elif isinstance(source, np.ndarray) and source.ndim >= 2:
        size = (source.shape[1], source.shape[0])
    else:
        size = None
    if size is None or min(size) < 1 or size[0] * size[1] > engine.config.max_image_pixels:
        return MIN_COST
    width, height = size
    target = None if skip_detection else detect.largest_target(height, width, engine.det_params)
    reading = recognizer_wave_bytes(engine.read_wave_columns, engine.REC_STEP_VALUES)
    return image_cost(width, height, target, reading)


def _advance(steps: Steps[Answer], box: list[list[np.ndarray]]) -> tuple[list[Run], Answer | None, float]:
    """On the CPU pool: resume the sequence up to its next model runs, or to its result. ``box`` holds the outputs
    of its last runs (empty at the start); they are handed over, not kept, so the sequence can free them."""
    started = time.perf_counter()
    try:
        return (steps.send(box.pop()) if box else next(steps)), None, started
    except StopIteration as done:
        return [], done.value, started
