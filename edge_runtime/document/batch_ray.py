"""`batch --ray ADDRESS|local`: the batch's documents read on a Ray cluster as a Ray Data pipeline, written here
exactly as the single-box command writes them.

Documents are split into pages by CPU tasks (``flat_map``), the pages read by a fixed pool of engine actors
(``map_batches`` with a class: ``--threads`` CPUs each, and a GPU each for a CUDA or TensorRT device), and the read
pages come back in document order to this process, which writes each document through ``batch_job.write_pages`` and
records it in the report as the single-box command does (the same files, the same resume). Ray is imported only
here, so the runtime never needs it without ``--ray``.
"""

from __future__ import annotations

import functools
import itertools
import pickle
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from operator import itemgetter
from pathlib import Path
from types import ModuleType
from typing import Any

from edge_runtime.config import EngineConfig
from edge_runtime.document.batch_job import Job, failed_record, recorded, write_pages
from edge_runtime.document.batch_ray_stages import Opened, PageRead, PageReader, split_pages
from edge_runtime.document.batch_report import Record
from edge_runtime.document.reader import ReadPage
from edge_runtime.errors import OcrError

__all__ = ["LOCAL", "RayOptions", "ActorPlan", "plan_actors", "run_on_ray"]

LOCAL = "local"  # --ray local: a Ray started in this process for this run, on this machine's CPUs
GPU_DEVICES = frozenset({"cuda", "tensorrt"})  # the devices that take one of Ray's GPUs per actor
SPLIT_SHARE = 8  # one CPU in this many (at least one) is left free of actors, for the tasks that render pages
MAX_SPLIT_BLOCKS = 4096  # documents are handed to the split tasks in at most this many blocks
BLOCK_BYTES = 1 << 20  # a page (its rendered image) is a block of its own, so any idle actor can take it
CONNECT_TIMEOUT = 5.0  # seconds to wait for a cluster's head to answer before the run is refused
SPLIT_RETRIES = 2  # a split task whose process dies (PDFium on a hostile file) is tried this often, not for ever

PageCallback = Callable[[str, int, str], None]  # (document, page number, its error or "") as each page is written
DoneCallback = Callable[[Record], None]


class RayUnavailableError(OcrError):
    reason = "RAY_UNAVAILABLE"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray batch runs: ``address`` LOCAL or a running cluster's (``auto``, ``HOST:6379``,
    ``ray://HOST:10001``); ``actors`` engine actors (0: as many as the cluster's CPUs, or GPUs, allow)."""

    address: str = LOCAL
    actors: int = 0


@dataclass(frozen=True)
class ActorPlan:
    """The actor pool: ``actors`` actors of ``threads`` CPUs (the engine's inference threads) and ``gpus`` GPUs."""

    actors: int
    threads: int
    gpus: int


def plan_actors(resources: Mapping[str, float], actors: int, config: EngineConfig) -> ActorPlan:
    """The pool ``actors`` (0: the most that fit) asks for on a cluster of ``resources`` (``ray.cluster_resources``).

    Each actor takes ``config.threads`` CPUs (default 1: one page per core, as the single-box command's workers);
    one CPU in SPLIT_SHARE is left to render pages. A pool that cannot fit would wait for ever: it is refused
    (RAY_RESOURCES_SHORT) before anything runs.
    """
    cpus = int(resources.get("CPU", 0))
    threads = config.threads or 1
    gpus = 1 if config.device in GPU_DEVICES else 0
    spare = max(1, cpus // SPLIT_SHARE)
    fit = max(0, cpus - spare) // threads
    if gpus:
        fit = min(fit, int(resources.get("GPU", 0)))
    wanted = actors or max(1, fit)
    if wanted > fit:
        each = f"{threads} CPU{'s' if threads > 1 else ''}" + (" and a GPU" if gpus else "")
        has = f"{cpus} CPUs ({spare} kept for rendering pages)"
        has += f" and {int(resources.get('GPU', 0))} GPUs" if gpus else ""
        raise OcrError(
            f"{wanted} engine actors of {each} each do not fit on the Ray cluster's {has}: ask for fewer "
            "(--ray-actors) or fewer threads (--threads)",
            "RAY_RESOURCES_SHORT",
        )
    return ActorPlan(wanted, threads, gpus)


def run_on_ray(
    jobs: list[Job], options: RayOptions, config: EngineConfig, on_page: PageCallback, on_done: DoneCallback
) -> None:
    """Read ``jobs`` on the cluster and write each document here, calling ``on_page`` per page written and
    ``on_done`` with each document's record, in the order of ``jobs``."""
    if not jobs:
        return
    ray = _import_ray()
    with _session(ray, options.address):
        plan = plan_actors(ray.cluster_resources(), options.actors, config)
        rows = iter(_pipeline(ray, jobs, plan, config).iter_rows())
        try:
            _write(rows, jobs, on_page, on_done)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # stops the pipeline when this process stops early (Ctrl-C)


def _import_ray() -> ModuleType:
    try:
        import ray
        import ray.data
    except ImportError:
        raise RayUnavailableError(
            "--ray needs Ray: pip install 'edge-ocr[ray]' (or the ray[data] pin of requirements-dev.txt)"
        ) from None
    return ray


@contextmanager
def _session(ray: ModuleType, address: str) -> Iterator[None]:
    """Ray connected for the run: a Ray the caller already started is used as it is (and left running); otherwise
    a local one is started, or the cluster at ``address`` joined, and shut down after."""
    if ray.is_initialized():
        yield
        return
    if address != LOCAL:
        _check_reachable(address)
    try:
        if address == LOCAL:
            ray.init(address="local", include_dashboard=False)
        else:
            ray.init(address=address)
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        raise RayUnavailableError(f"cannot start or reach Ray at {address}: {exc}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """A ``HOST:PORT`` that nothing answers on fails now: Ray itself would wait minutes for its GCS there."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # ``auto`` and other forms: Ray says what is wrong with them
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise RayUnavailableError(f"nothing answers at {address} (a Ray head's GCS port): {exc}") from None


def _pipeline(ray: ModuleType, jobs: list[Job], plan: ActorPlan, config: EngineConfig) -> Any:
    """The Ray Data pipeline over ``jobs``: split tasks, then the actor pool; rows in the order of ``jobs``."""
    cwd = Path.cwd()  # the split tasks run elsewhere: they get absolute paths (shared storage on a real cluster)
    items = [{"name": job.input.name, "job": pickle.dumps(_absolute(job, cwd))} for job in jobs]
    dataset = ray.data.from_items(items, override_num_blocks=min(len(items), MAX_SPLIT_BLOCKS))
    with warnings.catch_warnings():  # max_retries has no named parameter yet in the pinned Ray (it warns)
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = dataset.flat_map(split_pages, num_cpus=1, max_retries=SPLIT_RETRIES)
    dataset = dataset.map_batches(
        PageReader,
        fn_constructor_kwargs={
            "config": config.replace(threads=plan.threads),
            "text_layer": jobs[0].options.text_layer.value,
            "keep_images": "pdf" in jobs[0].formats,
        },
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
        batch_size=1,
        num_cpus=plan.threads,
        num_gpus=plan.gpus or None,
    )
    dataset.context.execution_options.preserve_order = True  # a document's rows arrive together, in page order
    dataset.context.target_max_block_size = BLOCK_BYTES
    dataset.context.max_errored_blocks = -1  # a split that fails for good costs its documents, not the run
    return dataset


def _absolute(job: Job, cwd: Path) -> Job:
    return replace(job, input=replace(job.input, path=cwd / job.input.path))


def _write(rows: Iterable[dict[str, Any]], jobs: list[Job], on_page: PageCallback, on_done: DoneCallback) -> None:
    """Each document's rows (its ``Opened``, then its pages) written through ``write_pages`` as they come."""
    waiting = {job.input.name: job for job in jobs}
    for name, group in itertools.groupby(rows, key=itemgetter("name")):
        on_done(_document(waiting.pop(name), group, functools.partial(on_page, name)))
    for job in waiting.values():  # never came back (its split task failed for good): read again next time
        on_done(failed_record(job, "WORKER_CRASHED", _LOST))


def _document(job: Job, rows: Iterator[dict[str, Any]], on_page: Callable[[int, str], None]) -> Record:
    """One document written from its rows; its record. Its seconds are the work it took: opening, rendering and
    reading each page (on the cluster) and writing (here)."""
    opened: Opened = pickle.loads(next(rows)["payload"])
    started = time.perf_counter()
    record = {**opened.record, "path": str(job.input.path)}  # the path as given, not as the task read it
    work = [opened.seconds]
    if not record["error"]:
        with recorded(job, record):
            write_pages(job, _pages(rows, opened.pages, work), opened.source, record, on_page)
    record["seconds"] = round(sum(work) + time.perf_counter() - started, 3)
    return record


_LOST = "the Ray task splitting it into pages failed (Ray's log above says why)"


class _DocumentLostError(OcrError):
    reason = "WORKER_CRASHED"


def _pages(rows: Iterable[dict[str, Any]], expected: int, work: list[float]) -> Iterator[ReadPage]:
    """A document's pages as the writers take them. A page whose reading raised raises here, so the document is
    recorded as the single-box command records it; so does a document whose pages stop short (its split task
    died), before any of its outputs is in place."""
    count = 0
    for row in rows:
        read: PageRead = pickle.loads(row["payload"])
        if read.page is None:
            raise OcrError(read.failure, read.reason)
        count += 1
        work.append(read.seconds)
        yield ReadPage(read.page, read.image)
    if count < expected:
        raise _DocumentLostError(f"{_LOST}: {count} of its {expected} pages came back")
