"""``python -m bench.ray_batch``: pages/s of ``batch --ray`` with one and two engine actors against the single-box
command on the same files, and what a Ray worker costs in memory.

Four runs over the same documents (default: ``doc_scans``, 20 scanned receipt pages, every page OCR'd), each
through ``run_batch`` into a fresh output folder, each loading its own engines (model load included everywhere):

- ``single``: the single-process command (``--workers 1``), the engine's threads = ``--threads`` (default: CPUs);
- ``ray-1``: one actor with the same threads, on a local Ray started here;
- ``pool``: the single-box command's default on this box (``--workers`` = CPUs, one thread each);
- ``ray-N``: N = CPUs actors of one thread each.

Ray is started once (its start-up is reported, not counted in pages/s) with one logical CPU more than the host
has, so the actors can have every core and a task still render pages (that CPU is a scheduling token, not a core).
Memory: the Ray processes' resident set at rest (GCS, raylet, idle workers) and each process's peak RSS and USS
while the runs go, sampled: an actor's against a single-box worker's (both one engine of one thread). Every run's
outputs are compared with the single run's (the same bytes, or the bench says which differ). The JSON holds the
host's CPU, flags and load average sampled during the run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from bench.documents import LoadSampler, _host
from edge_runtime.config import EngineConfig
from edge_runtime.document.batch import run_batch
from edge_runtime.document.batch_ray import LOCAL, RayOptions

__all__ = ["main"]

Record = dict[str, Any]
MB = 1024 * 1024


class MemorySampler:
    """Peak RSS and USS of this process's descendants, by run (``label``) and role (``classify`` names one from
    the command line, or None to skip it)."""

    def __init__(self, classify: Callable[[str, str], str | None], every: float = 0.5) -> None:
        self.peaks: dict[str, dict[str, float]] = {}
        self.label = ""
        self._classify = classify
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            for child in psutil.Process().children(recursive=True):
                try:
                    role = self._classify(self.label, " ".join(child.cmdline()))
                    if role is None:
                        continue
                    memory = child.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                peak = self.peaks.setdefault(f"{self.label} {role}", {"rss_mb": 0.0, "uss_mb": 0.0})
                peak["rss_mb"] = max(peak["rss_mb"], round(memory.rss / MB, 1))
                peak["uss_mb"] = max(peak["uss_mb"], round(memory.uss / MB, 1))

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _role(label: str, cmdline: str) -> str | None:
    """What a process is to the run ``label``: its engine actors, or its pool's workers (an actor of the run
    before, still being torn down, is not counted)."""
    if label.startswith("ray") and "MapWorker" in cmdline:
        return "engine actor"
    if label == "pool" and "multiprocessing" in cmdline and "spawn" in cmdline:
        return "pool worker"
    return None


def _ray_at_rest() -> dict[str, float]:
    """The resident memory of the Ray processes this process started (GCS, raylet, agents, idle workers)."""
    rss = uss = 0
    count = 0
    for child in psutil.Process().children(recursive=True):
        try:
            info = child.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        rss, uss, count = rss + info.rss, uss + info.uss, count + 1
    return {"processes": count, "rss_mb": round(rss / MB, 1), "uss_mb": round(uss / MB, 1)}


def _documents(inputs: Sequence[str], pages: int, folder: Path) -> tuple[Path, int]:
    """The first documents of ``inputs`` up to ``pages`` pages, copied into ``folder``."""
    import pypdfium2 as pdfium

    folder.mkdir(parents=True)
    total = 0
    for path in map(Path, inputs):
        if total >= pages:
            break
        count = len(pdfium.PdfDocument(str(path))) if path.suffix.lower() == ".pdf" else 1
        shutil.copy(path, folder / path.name)
        total += count
    return folder, total


def _warm() -> None:
    """The models read once before the runs, so the first run does not pay for a cold file cache alone."""
    import numpy as np

    from edge_runtime.pipeline import OcrEngine

    OcrEngine(EngineConfig(threads=1)).recognize(np.full((64, 256, 3), 255, np.uint8))


def _same(out: Path, reference: Path) -> list[str]:
    """The outputs of ``out`` that differ from ``reference``'s (report.json aside)."""
    names = {p.relative_to(reference).as_posix() for p in reference.rglob("*") if p.is_file()} - {"report.json"}
    return sorted(n for n in names if not (out / n).is_file() or (out / n).read_bytes() != (reference / n).read_bytes())


def _run(name: str, docs: Path, out: Path, formats: list[str], config: EngineConfig, **how: Any) -> Record:
    started = time.perf_counter()
    code = run_batch([str(docs)], out, formats, config=config, stream=io.StringIO(), **how)
    seconds = time.perf_counter() - started
    last = json.loads((out / "report.json").read_text(encoding="utf-8"))["last_run"]
    return {
        "system": name,
        "exit": code,
        "pages": last["pages"],
        "seconds": round(seconds, 2),
        "pages_per_second": round(last["pages"] / seconds, 3),
        "load_1m_after": round(os.getloadavg()[0], 2),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ray_batch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    eval_dir = Path(os.environ.get("OCR_EVAL_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "eval"))
    default = sorted(str(p) for p in (eval_dir / "doc_scans" / "pdf").glob("*.pdf"))
    parser.add_argument("inputs", nargs="*", default=default, help="documents (default: doc_scans' PDFs)")
    parser.add_argument("--pages", type=int, default=20, help="documents taken until this many pages")
    parser.add_argument("--to", default="json", help="formats written (default: json)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of single and ray-1")
    parser.add_argument("--actors", type=int, default=os.cpu_count() or 1, help="actors of the widest Ray run")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.inputs:
        _parser().error("no documents: give some, or set OCR_EVAL_DIR to where doc_scans is")
    import ray

    formats = [f.strip() for f in args.to.split(",") if f.strip()]
    wide = EngineConfig(threads=1)
    with tempfile.TemporaryDirectory(prefix="ray-batch-bench-") as scratch:
        docs, pages = _documents(args.inputs, args.pages, Path(scratch) / "docs")
        print(f"{pages} pages in {len(list(docs.iterdir()))} documents", file=sys.stderr)
        _warm()
        cpus = max(args.threads + 1, args.actors + 1)  # every core for the actors, one token for rendering
        started = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, object_store_memory=500 * MB)
        ray_start = round(time.perf_counter() - started, 2)
        time.sleep(2.0)  # the idle workers Ray pre-starts, counted at rest
        at_rest = _ray_at_rest()
        out = Path(scratch)
        runs: list[Record] = []
        try:
            with LoadSampler() as load, MemorySampler(_role) as memory:
                plan: list[tuple[str, EngineConfig, dict[str, Any]]] = [
                    ("single", EngineConfig(threads=args.threads), {}),
                    ("ray-1", EngineConfig(threads=args.threads), {"ray": RayOptions(LOCAL, 1)}),
                    ("pool", wide, {"workers": os.cpu_count() or 1}),
                    (f"ray-{args.actors}", wide, {"ray": RayOptions(LOCAL, args.actors)}),
                ]
                for name, config, how in plan:
                    memory.label = name
                    runs.append(_run(name, docs, out / name, formats, config, **how))
        finally:
            ray.shutdown()
        for run in runs:
            run["differs_from_single"] = _same(out / run["system"], out / "single")
    result = {
        "host": _host(),
        "load_average_1m": load.summary(),
        "pages": pages,
        "formats": formats,
        "ray_version": ray.__version__,
        "ray_logical_cpus": cpus,
        "ray_start_seconds": ray_start,
        "ray_at_rest": at_rest,
        "peak_memory": memory.peaks,
        "runs": runs,
    }
    print(_table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


def _table(result: Record) -> str:
    single = result["runs"][0]["pages_per_second"]
    rows = [
        "| run | pages | seconds | pages/s | vs single | outputs as single's |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for run in result["runs"]:
        same = "DIFFER: " + ", ".join(run["differs_from_single"]) if run["differs_from_single"] else "same bytes"
        ratio = run["pages_per_second"] / single if single else 0.0
        rows.append(
            f"| {run['system']} | {run['pages']} | {run['seconds']} | {run['pages_per_second']} | {ratio:.2f}x "
            f"| {same} |"
        )
    memory = result["peak_memory"]
    rows.append("")
    rows.append(
        f"Ray start-up {result['ray_start_seconds']} s; Ray at rest: {result['ray_at_rest']['processes']} processes, "
        f"RSS {result['ray_at_rest']['rss_mb']} MB (USS {result['ray_at_rest']['uss_mb']} MB)"
    )
    for key, peak in sorted(memory.items()):
        rows.append(f"{key} peak: RSS {peak['rss_mb']} MB, USS {peak['uss_mb']} MB")
    rows.append(f"load average (1 min) during the run: {result['load_average_1m']}")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
