"""`python -m edge_runtime batch INPUT... --out DIR --to json,text,pdf [--workers N]`: read many documents on one
box, in process, every core busy, each output written as `document` writes it.

INPUT is a file, a folder (its PDFs, TIFFs and images, recursively, by extension) or a glob (quote it:
'scans/**/*.pdf'). Each document's outputs are named after it with the format's extension appended:
`a/scan.pdf` -> DIR/a/scan.pdf.json, .txt, .md, .hocr, .alto.xml, .pdf; a folder's or a glob's documents are
named relative to the folder (the glob's part before its first wildcard), a file given on its own relative to the
current folder when it is under it, else by its file name. Two documents given the same name are refused.

DIR/report.json holds, per document, its pages, seconds, error (a stable reason) and page errors, plus totals; it
is kept up to date as documents finish. A second run skips every document that is done and verified (read without
error, with the same settings, the file unchanged since, each output there with its recorded SHA-256) and reads
the others again. Outputs are written to `.part` files and renamed when complete, so a killed run leaves no
partial output under an output's name. A document that cannot be read is an error line and its record; the
others are still read. Exit code: 0 when every document and page was read, 1 when any failed, 2 for a usage
error, 130 after Ctrl-C (the report written first). `--ray ADDRESS|local` reads the pages on a Ray cluster
instead (``batch_ray``), each document still written here, the same files and the same report.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from edge_runtime.arguments import OneLineParser, add_engine_arguments, engine_config
from edge_runtime.config import EngineConfig
from edge_runtime.document.batch_inputs import BatchInput, InputError, find_inputs
from edge_runtime.document.batch_job import Job, part_file, run_job
from edge_runtime.document.batch_ray import RayOptions, run_on_ray
from edge_runtime.document.batch_report import Record, Report
from edge_runtime.document.lazy import LazyEngine
from edge_runtime.document.outputs import FORMATS, add_reading_arguments
from edge_runtime.document.progress import Progress
from edge_runtime.document.reader import Recognizer
from edge_runtime.document.sources import DocumentOptions
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.errors import OcrError

__all__ = ["main", "run_batch", "settings_of", "worker_config"]

INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C (128 + SIGINT)


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m edge_runtime batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders and globs")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (made if missing)")
    parser.add_argument("--to", required=True, metavar="FORMATS", help=f"comma list of {','.join(FORMATS)}")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, metavar="N",
        help="worker processes, one document at a time each (default: the number of CPUs; 1: in this process)",
    )  # fmt: skip
    parser.add_argument(
        "--ray", metavar="ADDRESS", help="read the pages on a Ray cluster (docs/batch.md): its address, or local"
    )
    parser.add_argument(
        "--ray-actors", type=int, default=0, metavar="N",
        help="with --ray: engine actors of --threads CPUs each (default: as many as the cluster fits)",
    )  # fmt: skip
    add_reading_arguments(parser, each=True)
    add_engine_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    formats = tuple(dict.fromkeys(f.strip() for f in args.to.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if not formats or unknown:
        parser.error(f"--to takes a comma list of {', '.join(FORMATS)}; not {', '.join(unknown) or 'empty'}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.ray_actors < 0 or (args.ray_actors and not args.ray):
        parser.error("--ray-actors takes a number of actors, with --ray")
    options = DocumentOptions(args.pages, TextLayerMode(args.text_layer), args.password)
    ray = RayOptions(args.ray, args.ray_actors) if args.ray else None
    return run_batch(args.inputs, args.out, formats, options, engine_config(args), args.workers, ray=ray)


def worker_config(config: EngineConfig, workers: int) -> EngineConfig:
    """Each worker's engine: ``threads`` as given, else its share of the CPUs, so the workers together use every
    core once and do not oversubscribe them."""
    return config.replace(threads=config.threads or max(1, (os.cpu_count() or 1) // workers))


def settings_of(options: DocumentOptions, config: EngineConfig) -> dict[str, Any]:
    """What a document's outputs depend on besides the file itself: a change reads it again. Threads and workers
    change only the speed; the password only whether it opens. The default bundle is named: a new default is a
    change."""
    from models.bundle import default_bundle_id

    engine = dataclasses.asdict(config.replace(bundle=config.bundle or default_bundle_id(), threads=0, rec_streams=0))
    return {"pages": options.pages, "text_layer": options.text_layer.value, "engine": engine}


def run_batch(
    inputs: Sequence[str],
    out: Path,
    formats: Sequence[str],
    options: DocumentOptions | None = None,
    config: EngineConfig | None = None,
    workers: int = 1,
    engine: Recognizer | None = None,
    stream: TextIO | None = None,
    ray: RayOptions | None = None,
) -> int:
    """Read the documents ``inputs`` name into ``out`` (see the module); the exit code.

    ``workers`` > 1 spawns that many processes (fewer when fewer documents need reading), each with its own
    engine; with 1 the documents are read here, by ``engine`` (default: one loaded at the first OCR page).
    ``ray`` reads the pages on a Ray cluster instead (``batch_ray``), written here all the same.
    """
    options = options or DocumentOptions()
    config = config or EngineConfig()
    stream = stream or sys.stderr
    documents = find_inputs(inputs, exclude=out)
    if any(document.name == "report" for document in documents):
        raise InputError("a document named 'report' would be written over report.json", "INPUT_NAME_CONFLICT")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OcrError(f"cannot make {out}: {exc.strerror}", "OUTPUT_UNWRITABLE") from None
    report = Report.load(out)
    report.runs += 1
    settings = settings_of(options, config)
    todo = [d for d in documents if not report.is_done(d.name, d.path, settings, formats)]
    jobs = [Job(d, out, tuple(formats), options, settings, report.runs) for d in todo]
    progress = Progress(len(documents), len(documents) - len(jobs), stream)
    run = _Run(report, progress, stream, documents, len(documents) - len(jobs))
    workers = min(workers, len(jobs))
    stop = _stop_on_sigterm()
    try:
        if ray is not None:
            run.on_ray(jobs, ray, config)
        elif workers > 1:
            run.pooled(jobs, workers, worker_config(config, workers))
        else:
            run.here(jobs, engine or LazyEngine(config))
    except KeyboardInterrupt:
        for job in jobs:  # the documents in flight: their partial outputs go (a worker may not have)
            for fmt in job.formats:
                part_file(job, fmt).unlink(missing_ok=True)
        run.finish(interrupted=True)
        print(f"batch: stopped; {out / 'report.json'} holds what was finished", file=stream)
        return INTERRUPTED
    finally:
        stop()
    return run.finish(interrupted=False)


def _stop_on_sigterm() -> Callable[[], None]:
    """SIGTERM (a service manager, `kill`) stops a run as Ctrl-C does: workers ended, report written. Returns
    what puts the previous handler back. Only the main thread may set handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


class _Run:
    """One run's bookkeeping: each finished document recorded, reported and counted."""

    def __init__(
        self, report: Report, progress: Progress, stream: TextIO, documents: list[BatchInput], skipped: int
    ) -> None:
        self.report, self.progress, self.stream, self.documents = report, progress, stream, documents
        self.read = 0
        self.skipped = skipped
        self.pages = 0
        self.started = time.monotonic()

    def here(self, jobs: list[Job], engine: Recognizer) -> None:
        for job in jobs:
            record = run_job(job, engine, functools.partial(self._page, job.input.name))
            self._done(record)

    def pooled(self, jobs: list[Job], workers: int, config: EngineConfig) -> None:
        from edge_runtime.document.batch_pool import WorkerPool

        pool = WorkerPool(workers, config)
        try:
            for event in pool.run(jobs):
                if event[0] == "page":
                    self._page(*event[1:])
                else:
                    self._done(event[2])
        finally:
            pool.close()

    def on_ray(self, jobs: list[Job], ray: RayOptions, config: EngineConfig) -> None:
        run_on_ray(jobs, ray, config, self._page, self._done)

    def _page(self, name: str, number: int, error: str) -> None:
        self.pages += 1
        self.progress.page()
        if error:
            self.progress.error(f"error: {name}: page {number} cannot be read [{error}]")

    def _done(self, record: Record) -> None:
        self.read += 1
        self.report.add(record)
        if record["error"]:
            self.progress.error(f"error: {record['name']}: {record['message']} [{record['error']}]")
        self.progress.document(bool(record["error"] or record["page_errors"]))

    def _failed(self) -> Iterator[str]:
        """This run's documents whose record (this run's or the one that made them skipped) holds an error."""
        for document in self.documents:
            record = self.report.records.get(document.name, {})
            if record.get("error") or record.get("page_errors"):
                yield document.name

    def finish(self, interrupted: bool) -> int:
        self.progress.close()
        seconds = time.monotonic() - self.started
        failed = list(self._failed())
        last_run = {
            "run": self.report.runs,
            "inputs": len(self.documents),
            "read": self.read,
            "skipped": self.skipped,
            "failed": len(failed),
            "pages": self.pages,
            "seconds": round(seconds, 3),
            "pages_per_second": round(self.pages / seconds, 2) if seconds > 0 else 0.0,
            "interrupted": interrupted,
        }
        self.report.save(last_run)
        print(
            f"batch: {len(self.documents)} documents ({self.read} read, {self.skipped} skipped as done), "
            f"{self.pages} pages in {seconds:.1f} s, {last_run['pages_per_second']} pages/s, {len(failed)} failed; "
            f"report: {self.report.folder / 'report.json'}",
            file=self.stream,
        )
        return 1 if failed else 0
