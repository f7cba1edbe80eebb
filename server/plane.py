"""Protocol-neutral data plane: admission, deadlines, decoding and the staged pipeline with dynamic batching.

Free of grpc: the servicer converts messages and maps errors; everything here speaks domain types and raises
``edge_runtime.errors`` exceptions. Model runs go to one inference executor (each run already uses the
engine's intra-op threads); decoding and crop preparation go to a separate CPU pool.

Admission counts units of work against ``max_concurrent_rpcs``: a unary call holds a slot for its life, a
stream frame only while it is computed (``frame_slot``). An open stream holds no slot; open streams are counted
apart (at most ``max_concurrent_rpcs`` of them), and their frames take turns, one frame per stream, in the
``streams`` scheduler in front of the inference executor, ``inference_threads`` frames at a time, so streams
never hold more than that many slots, however many cameras are open.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Iterator, Sequence

import numpy as np

from edge_runtime import imageio, recognize
from edge_runtime.errors import DeadlineExceededError, NotReadyError, OverloadedError
from edge_runtime.pipeline import LineCrop, OcrEngine
from edge_runtime.stream.scheduler import FrameScheduler
from edge_runtime.types import OcrResult
from server.batcher import RecognitionBatcher
from server.config import ServerConfig

__all__ = ["OcrPlane", "RawPixels", "ImageSource", "PlaneStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawPixels:
    """An unencoded image as received: row-major pixels in one of imageio.RAW_FORMATS."""

    width: int
    height: int
    pixel_format: str
    data: bytes


ImageSource = bytes | RawPixels


@dataclass
class PlaneStats:
    images: int = 0  # images computed to the end (success or bad image)
    detections: int = 0  # detector runs
    expired: int = 0  # work skipped because its deadline had passed
    cancelled: int = 0  # calls whose caller went away mid-way
    overloaded: int = 0  # calls (and stream frames) refused by admission control
    stream_frames: int = 0  # stream frames admitted to the models


class OcrPlane:
    """Runs recognition for any transport. Not ready until ``load()`` has built and warmed the engine."""

    def __init__(self, engine_factory: Callable[[], OcrEngine], config: ServerConfig) -> None:
        self._engine_factory = engine_factory
        self.config = config
        self.engine: OcrEngine | None = None
        self.stats = PlaneStats()
        self._infer = ThreadPoolExecutor(config.inference_threads, thread_name_prefix="ocr-infer")
        self._cpu = ThreadPoolExecutor(config.decode_threads, thread_name_prefix="ocr-cpu")
        self._batcher: RecognitionBatcher | None = None
        # frames of all open streams, one per stream in turn, a few at a time, on the inference executor
        self.streams = FrameScheduler(self._infer, config.inference_threads)
        self._slots = threading.Lock()  # _active and _streams change on the event loop and on worker threads
        self._active = 0
        self._streams = 0
        self._ready = threading.Event()
        self.draining = False

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def load(self) -> None:
        """Build the engine and warm it up (off the event loop); then the plane is ready."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        engine = await loop.run_in_executor(self._infer, self._engine_factory)
        await loop.run_in_executor(self._infer, engine.warm_up)
        max_size = self.config.batch_max_size or engine.config.rec_batch_size
        self._batcher = RecognitionBatcher(engine.read_bucket, self._infer, max_size,
                                           self.config.batch_max_delay_ms / 1000.0)
        self.engine = engine
        self._ready.set()
        log.info("models ready in %.1f s: %s", time.perf_counter() - started, engine.provenance)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def batcher(self) -> RecognitionBatcher | None:
        return self._batcher

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
                raise OverloadedError(f"{self._active} calls in progress, the limit is "
                                      f"{self.config.max_concurrent_rpcs}; {what} refused")
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
    def frame_slot(self) -> Iterator[None]:
        """A stream frame's slot while its models run (on the worker thread): OVERLOADED when every slot is
        taken, which fails that frame only."""
        self._take_slot("stream frame")
        self.stats.stream_frames += 1
        try:
            yield
        finally:
            self._give_slot()

    @property
    def active_calls(self) -> int:
        """Units of work holding a slot: unary calls and stream frames being computed."""
        return self._active

    @property
    def open_streams(self) -> int:
        return self._streams

    # ---- pipeline -----------------------------------------------------------------------------------
    async def recognize(self, source: ImageSource, skip_detection: bool = False,
                        deadline: float | None = None) -> OcrResult:
        """One image through decode -> detect -> classify -> (batched) recognize -> assemble.

        ``deadline`` is a time.monotonic() instant; work that would start after it is not done.
        """
        engine = self.engine
        if engine is None:
            raise NotReadyError("models are loading or warming up; retry shortly")
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        ms: dict[str, float] = {"queue": 0.0}

        async def stage(name: str, pool: ThreadPoolExecutor, fn, *args):
            self._check(deadline)
            submitted = time.perf_counter()
            timing: list[float] = []

            def timed():
                t0 = time.perf_counter()
                try:
                    return fn(*args)
                finally:
                    timing.append(t0)
                    timing.append(time.perf_counter())

            value = await loop.run_in_executor(pool, timed)
            ms["queue"] += timing[0] - submitted
            ms[name] = ms.get(name, 0.0) + (timing[1] - timing[0]) * 1000
            return value

        image = await stage("decode", self._cpu, self._decode, engine, source)
        if skip_detection:
            crops = [engine.whole_image_crop(image)]
        else:
            crops = await stage("det", self._infer, self._detect, engine, image)
        probs = await stage("cls", self._infer, engine.classify, crops) if engine.config.use_angle_cls else None
        crops = engine.orient(crops, probs)
        prepared = await stage("prep", self._cpu, self._prepare, engine, [c.image for c in crops])
        self._check(deadline)
        t0 = time.perf_counter()
        assert self._batcher is not None
        readings = await self._batcher.read(prepared)
        again = engine.doubtful(crops)
        if again:  # a second look at lines turned on the angle classifier's word alone
            turned_back = [np.ascontiguousarray(crops[i].image[::-1, ::-1]) for i in again]
            second = await self._batcher.read(await stage("prep", self._cpu, self._prepare, engine, turned_back))
            engine.settle(crops, readings, again, second)
        ms["rec"] = (time.perf_counter() - t0) * 1000  # includes the batching wait
        ms["queue"] *= 1000
        ms["total"] = (time.perf_counter() - started) * 1000
        ms["cls"] = ms.get("cls", 0.0) + ms.pop("prep", 0.0)
        self.stats.images += 1
        return engine.assemble(image.shape[0], image.shape[1], crops, readings, ms)

    async def recognize_many(self, items: Sequence[tuple[ImageSource, bool]],
                             deadline: float | None = None) -> list[OcrResult | Exception]:
        """Several images at once (they batch with each other and with other calls). A failed image yields its
        exception in place of its result (a bad image, or an internal failure), so the others still answer;
        only a passed deadline fails the whole call."""
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

    @staticmethod
    def _decode(engine: OcrEngine, source: ImageSource) -> np.ndarray:
        if isinstance(source, RawPixels):
            c = engine.config
            return imageio.decode_raw(source.data, source.width, source.height, source.pixel_format,
                                      c.max_image_pixels, c.min_image_side)
        return engine.load_image(source)

    def _detect(self, engine: OcrEngine, image: np.ndarray) -> list[LineCrop]:
        self.stats.detections += 1
        return engine.crop(image, engine.detect(image))

    @staticmethod
    def _prepare(engine: OcrEngine, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, int]]:
        return [recognize.preprocess(image, engine.rec_params) for image in images]
