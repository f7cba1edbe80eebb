"""Worker processes for a batch: one document at a time in each (PDFium is not thread-safe), each with its own
engine, loaded at its first OCR page (born-digital PDFs never load the models) with ``threads`` inference threads.

Workers are spawned (not forked: the parent may hold a loaded engine's threads), ignore Ctrl-C (the parent
decides) and report on one queue: ("start", worker, name), ("page", worker, name, number, error) and
("done", worker, name, record). A worker that dies (PDFium crashing on a hostile file) costs only the document it
held, recorded as WORKER_CRASHED, and is replaced.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import queue
import signal
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from typing import Any

from edge_runtime.config import EngineConfig
from edge_runtime.document.batch_job import Job, failed_record, part_file, run_job
from edge_runtime.document.batch_report import Record

__all__ = ["Event", "WorkerPool"]

Event = tuple[Any, ...]  # ("page", name, number, error) or ("done", name, record), as the parent gets them
POLL = 0.5  # seconds between looks at the workers' health while no event comes


def _work(worker: int, tasks: Any, events: Any, config: EngineConfig) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent handles it
    import cv2

    from edge_runtime.document.lazy import LazyEngine

    cv2.setNumThreads(config.num_threads)  # image steps too stay within this worker's share of the cores
    engine = LazyEngine(config)
    parent = os.getppid()
    while (job := tasks.get()) is not None:
        if os.getppid() != parent:
            return  # the batch was killed without a word: no one would take this document's record
        name = job.input.name
        events.put(("start", worker, name))
        record = run_job(job, engine, functools.partial(_said, events, worker, name))
        events.put(("done", worker, name, record))


def _said(events: Any, worker: int, name: str, number: int, error: str) -> None:
    events.put(("page", worker, name, number, error))


class WorkerPool:
    """``workers`` processes reading ``jobs``; iterate ``run()`` for the events; ``close()`` stops them."""

    def __init__(self, workers: int, config: EngineConfig) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._workers = workers
        self._config = config
        self._tasks: Any = self._context.Queue()
        self._events: Any = self._context.Queue()
        self._processes: dict[int, BaseProcess] = {}
        self._next = 0

    def _start(self) -> None:
        worker, self._next = self._next, self._next + 1
        process = self._context.Process(
            target=_work, args=(worker, self._tasks, self._events, self._config), name=f"batch-{worker}", daemon=True
        )
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: no KeyboardInterrupt while it starts
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, handler)
        self._processes[worker] = process

    def run(self, jobs: list[Job]) -> Iterator[Event]:
        """Every job read by the workers: its pages' events as they come, then its record."""
        outstanding = {job.input.name: job for job in jobs}
        for job in jobs:
            self._tasks.put(job)
        for _ in range(self._workers):
            self._tasks.put(None)
            self._start()
        held: dict[int, str] = {}
        while outstanding:
            try:
                event = self._events.get(timeout=POLL)
            except queue.Empty:
                yield from self._reap(held, outstanding)
                continue
            yield from self._handle(event, held, outstanding)

    @staticmethod
    def _handle(event: tuple[Any, ...], held: dict[int, str], outstanding: dict[str, Job]) -> Iterator[Event]:
        kind, worker, name = event[:3]
        if kind == "start":
            held[worker] = name
        elif kind == "page":
            yield ("page", name, *event[3:])
        elif name in outstanding:
            held.pop(worker, None)
            del outstanding[name]
            yield ("done", name, event[3])

    def _reap(self, held: dict[int, str], outstanding: dict[str, Job]) -> Iterator[Event]:
        """Records for the documents of workers that died, and a new worker for each that held one. When every
        worker has ended, what is still outstanding was held by a worker that died before saying so."""
        for worker, process in list(self._processes.items()):
            if process.exitcode is None or process.exitcode == 0:
                continue
            del self._processes[worker]
            name = held.pop(worker, None)
            if name is not None and name in outstanding:
                yield ("done", name, self._crashed(outstanding.pop(name), process.exitcode))
                self._start()  # it took a document and failed on it: the others still need a reader
        if all(p.exitcode is not None for p in self._processes.values()):
            while True:  # what the last ones said just before they ended
                try:
                    event = self._events.get(timeout=POLL)
                except queue.Empty:
                    break
                yield from self._handle(event, held, outstanding)
            for name in list(outstanding):
                yield ("done", name, self._crashed(outstanding.pop(name), None))

    @staticmethod
    def _crashed(job: Job, code: int | None) -> Record:
        for fmt in job.formats:
            part_file(job, fmt).unlink(missing_ok=True)
        how = "ended" if code is None else f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return failed_record(job, "WORKER_CRASHED", f"the worker process reading it {how}")

    def close(self) -> None:
        """Stop every worker (a document in flight is not recorded; its ``.part`` files are the caller's)."""
        for process in self._processes.values():
            if process.exitcode is None:
                process.terminate()
        for process in self._processes.values():
            process.join(timeout=10)
        self._processes.clear()
        self._tasks.cancel_join_thread()
        self._events.cancel_join_thread()
