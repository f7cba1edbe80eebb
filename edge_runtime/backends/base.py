"""The session interface every backend implements, and the lanes a session's runs take."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

__all__ = ["Session", "SessionOptions", "Lanes", "LanedSession", "Feeds", "Outputs"]

Feeds = dict[str, np.ndarray]
Outputs = list[np.ndarray]


@dataclass(frozen=True)
class SessionOptions:
    device: str = "cpu"
    threads: int = 1
    ov_precision_hint: str = "f32"
    streams: int = 1  # > 1 (CPU): runs that overlap go side by side on this many one-thread streams
    ov_runtime_cache: int = -1  # OpenVINO CPU_RUNTIME_CACHE_CAPACITY; -1: the runtime's default
    best_class: bool = False  # a T x C probability output answers each step's best class and its score instead
    # (``best_class_outputs``): what greedy CTC reads (``recognize.ctc_decode_best``), 2 numbers a step, not 18,710


class Session(Protocol):
    """A loaded model. ``run`` and ``submit`` are safe to call from several threads."""

    backend: str
    device: str
    inputs: list[str]
    outputs: list[str]

    def run(self, feeds: Feeds) -> Outputs: ...

    def run_many(self, feeds: list[Feeds]) -> list[Outputs]:
        """Independent runs, outputs in order; backends may run them side by side."""
        ...

    def submit(self, feeds: Feeds, spread: bool = False) -> Future[Outputs]:
        """Start a run and return at once (blocks only while every lane is busy); ``spread``: it is one of
        several runs started together, so it takes a one-thread stream even when nothing else runs."""
        ...


Lane = TypeVar("Lane")
_load = threading.Condition()  # guards _in_flight and every session's free lanes; notified when a run ends
_in_flight = 0  # model runs in progress in this process, over every session: the cores are shared by all


class Lanes(Generic[Lane]):
    """Where a session's runs go: a *wide* lane (the model compiled for every thread) for a run that is alone
    in the process, so a lone call keeps every core, and *narrow* lanes (one-thread streams) for runs that
    overlap others, which then go side by side, at most one per stream in the whole process. Small
    convolutions scale poorly over threads: on a 2-core host two one-thread runs finish 15-30 % sooner than
    the same two runs in turn on both threads.

    ``run`` runs on the caller's thread; ``submit`` on a lane thread of its own (one per lane, so a run never
    waits for a thread once it has its lane). Each lane runs one model run at a time; taking one waits while
    none may start.
    """

    def __init__(self, wide: Sequence[Lane], narrow: Sequence[Lane], infer: Callable[[Lane, Feeds], Outputs]) -> None:
        if not wide:
            raise ValueError("a session needs a wide lane")
        self._lanes = [*wide, *narrow]
        self._wide = list(range(len(wide)))
        self._narrow = list(range(len(wide), len(self._lanes)))
        self._streams = len(narrow)
        self._infer = infer
        # every lane thread started now, so that a session's thread count never changes after it loads
        self._pool = ThreadPoolExecutor(len(self._lanes), thread_name_prefix="ocr-lane")
        started = threading.Barrier(len(self._lanes))
        for _ in self._lanes:
            self._pool.submit(started.wait)
        self.started = {"wide": 0, "narrow": 0}  # runs started per kind of lane (tests, metrics)

    def _take(self, spread: bool) -> int:
        global _in_flight
        with _load:
            while True:
                if self._wide and (not self._streams or (_in_flight == 0 and not spread)):
                    lane = self._wide.pop()
                elif self._narrow and _in_flight < self._streams:
                    lane = self._narrow.pop()
                else:
                    _load.wait()
                    continue
                _in_flight += 1
                self.started["wide" if lane < len(self._lanes) - self._streams else "narrow"] += 1
                return lane

    def _give(self, lane: int) -> None:
        global _in_flight
        with _load:
            _in_flight -= 1
            (self._wide if lane < len(self._lanes) - self._streams else self._narrow).append(lane)
            _load.notify_all()

    def run(self, feeds: Feeds, spread: bool = False) -> Outputs:
        lane = self._take(spread)
        try:
            return self._infer(self._lanes[lane], feeds)
        finally:
            self._give(lane)

    def submit(self, feeds: Feeds, spread: bool = False) -> Future[Outputs]:
        lane = self._take(spread)

        def job() -> Outputs:
            try:
                return self._infer(self._lanes[lane], feeds)
            finally:
                self._give(lane)

        try:
            return self._pool.submit(job)
        except BaseException:
            self._give(lane)
            raise

    def run_many(self, feeds: list[Feeds]) -> list[Outputs]:
        """One run keeps every thread when alone; several go side by side on the narrow lanes."""
        if len(feeds) < 2:
            return [self.run(f) for f in feeds]
        futures = [self.submit(f, spread=True) for f in feeds]
        return [f.result() for f in futures]


class LanedSession:
    """A session whose runs go through ``self._lanes`` (a ``Lanes``): the run methods of both backends."""

    _lanes: Lanes

    def run(self, feeds: Feeds) -> Outputs:
        return self._lanes.run(feeds)

    def run_many(self, feeds: list[Feeds]) -> list[Outputs]:
        return self._lanes.run_many(feeds)

    def submit(self, feeds: Feeds, spread: bool = False) -> Future[Outputs]:
        return self._lanes.submit(feeds, spread)


def best_class_outputs(score: np.ndarray, index: np.ndarray) -> Outputs:
    """A best-class session's two outputs (each ... x 1) as one float32 array ... x 2: (score, class). Classes
    fit float32 exactly (below 2**24); packing happens here, outside the runtime, which may compute in BF16."""
    return [np.concatenate([score.astype(np.float32, copy=False), index.astype(np.float32)], axis=-1)]
