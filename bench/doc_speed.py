"""Pages/s and time to the first page out on scanned PDFs: our command line and in-process reading against OCRmyPDF
(with Tesseract, and with our plugin when ``edge_runtime.document.ocrmypdf_plugin`` is importable).

Every system runs on every file in turn, the order rotated from one file to the next, so a busy neighbour on a shared
host slows them alike. Subprocesses are timed from start to exit: Python's start and model loading are part of a
command-line run, as a user sees it; the in-process row reads with an engine already warm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.doc_peers import ocrmypdf_command
from bench.doc_tables import cell, table
from edge_runtime.document.reader import Recognizer, read_document
from edge_runtime.evaluation.metrics import WordCounts, word_counts

__all__ = [
    "OCRMYPDF",
    "SPEED_PEERS",
    "Timed",
    "Run",
    "first_pages",
    "run_timed",
    "pdf_text",
    "json_words",
    "speed_systems",
    "speed_section",
    "speed_summary",
    "speed_table",
]

OCRMYPDF = "OCRmyPDF + Tesseract, --output-type pdf"  # the yardstick: what users reach for
SPEED_PEERS = {  # the peer names of ``missing_document_peers`` -> their rows in the speed table
    "ocrmypdf": OCRMYPDF,
    "ocrmypdf-pdfa": "OCRmyPDF + Tesseract, --output-type pdfa",
    "ocrmypdf-plugin": "OCRmyPDF + our plugin, --output-type pdf",
}
Record = dict[str, Any]


@dataclass(frozen=True)
class Timed:
    """One system's run on one PDF: seconds to the end, to the first page out (None: not observable), the error's
    last lines ('' when it worked) and the text it produced (scored against the truth: speed is not all)."""

    seconds: float
    first: float | None
    error: str
    text: str


Run = Callable[[Path], Timed]


def first_pages(source: Path, count: int, folder: Path) -> tuple[Path, int]:
    """``source`` cut to its first ``count`` pages (0: all), written to ``folder``; the path and its page count."""
    import pikepdf

    with pikepdf.open(source) as pdf:
        total = len(pdf.pages)
        if count <= 0 or count >= total:
            return source, total
        out = pikepdf.new()
        out.pages.extend(pdf.pages[:count])
        path = folder / f"{source.stem}_first{count}.pdf"
        out.save(path)
        return path, count


def run_timed(command: list[str], first_line: bool = False, output: Path | None = None) -> Timed:
    """``command`` run and timed; its text is its stdout, or the text layer of the PDF it wrote to ``output``."""
    if output is not None:
        output.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_repo()), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    first = None
    with (  # stderr to a file: a chatty tool cannot block on a full pipe while stdout is read
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env, text=True, cwd=_repo()) as proc,
    ):
        assert proc.stdout is not None
        head = proc.stdout.readline() if first_line else ""
        if head:
            first = time.perf_counter() - start
        stdout = head + proc.stdout.read()
        proc.wait()
        errors.seek(0)
        err = errors.read()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return Timed(seconds, first, f"exit {proc.returncode}: " + " | ".join(err.strip().splitlines()[-3:]), "")
    return Timed(seconds, first, "", stdout if output is None else pdf_text(output))


def pdf_text(path: Path) -> str:
    """The text a PDF viewer finds in ``path`` (pypdfium2, the library the runtime reads PDFs with)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def json_words(lines: str) -> str:
    """The words of ``document --to json``'s pages (one JSON page message a line), in their order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "words" and isinstance(value, list):
                    found.extend(str(w.get("text", "")) for w in value if isinstance(w, dict))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for line in lines.splitlines():
        if line.strip():
            walk(json.loads(line))
    return " ".join(found)


def _repo() -> Path:
    return Path(__file__).resolve().parents[1]


def speed_systems(
    engine: Recognizer, engine_args: list[str], jobs: int, skip: dict[str, str], out: Path
) -> list[tuple[str, Run]]:
    """(name, run on one PDF -> (whole seconds, first-page seconds or None, error)) for every system that runs."""
    ours = [sys.executable, "-m", "edge_runtime", "document"]

    def cli_pdf(pdf: Path) -> Timed:
        target = out / "ours.pdf"
        return run_timed([*ours, str(pdf), "--to", "pdf", "-o", str(target), *engine_args], output=target)

    def cli_json(pdf: Path) -> Timed:
        timed = run_timed([*ours, str(pdf), "--to", "json", *engine_args], first_line=True)
        return replace(timed, text=json_words(timed.text)) if not timed.error else timed

    def in_process(pdf: Path) -> Timed:
        start = time.perf_counter()
        first = None
        words = []
        for page in read_document(pdf, engine):
            first = first if first is not None else time.perf_counter() - start
            words += [w.text for w in page.words()]
        return Timed(time.perf_counter() - start, first, "", " ".join(words))

    def ocrmypdf(output_type: str, plugin: bool = False) -> Run:
        target = out / f"ocrmypdf.{output_type}{'.plugin' if plugin else ''}.pdf"

        def run(pdf: Path) -> Timed:
            return run_timed(ocrmypdf_command(pdf, target, output_type, jobs, plugin), output=target)

        return run

    systems: list[tuple[str, Run]] = [
        ("ours: document --to pdf", cli_pdf),
        ("ours: document --to json", cli_json),
        ("ours: read_document, in process (warm)", in_process),
    ]
    runs = {"ocrmypdf": ocrmypdf("pdf"), "ocrmypdf-pdfa": ocrmypdf("pdfa"), "ocrmypdf-plugin": ocrmypdf("pdf", True)}
    systems += [(SPEED_PEERS[peer], run) for peer, run in runs.items() if peer not in skip]
    return systems


def speed_section(
    files: Sequence[tuple[str, Path, int, list[str]]],
    systems: Sequence[tuple[str, Run]],
    repeat: int,
    log: Callable[[str], None],
) -> list[Record]:
    """Every system on every file, ``repeat`` times; the order of systems rotates from one file to the next."""
    records = []
    turn = 0
    for rep in range(repeat):
        for name, path, pages, truth in files:
            order = [systems[(turn + k) % len(systems)] for k in range(len(systems))]
            turn += 1
            for system, run in order:
                timed = run(path)
                words = word_counts([timed.text], truth)
                records.append(
                    {
                        "system": system,
                        "file": name,
                        "pages": pages,
                        "repeat": rep,
                        "seconds": round(timed.seconds, 3),
                        "first_page_s": None if timed.first is None else round(timed.first, 3),
                        "error": timed.error,
                        "words": [words.matched, words.predicted, words.truth],
                    }
                )
                log(f"speed {name} ({pages} p) {system}: {timed.seconds:.1f} s, word F1 {words.f1:.4f} {timed.error}")
    return records


def speed_summary(records: Sequence[Record], baseline: str) -> list[Record]:
    rows = []
    names = list(dict.fromkeys(r["system"] for r in records))
    base = [r for r in records if r["system"] == baseline and not r["error"]]
    base_rate = sum(r["pages"] for r in base) / sum(r["seconds"] for r in base) if base else None
    for name in names:
        rs = [r for r in records if r["system"] == name]
        ok = [r for r in rs if not r["error"]]
        pages, seconds = sum(r["pages"] for r in ok), sum(r["seconds"] for r in ok)
        rate = pages / seconds if seconds > 0 else None
        firsts = [r["first_page_s"] for r in ok if r["first_page_s"] is not None]
        words = sum((WordCounts(*r["words"]) for r in ok), WordCounts())
        rows.append(
            {
                "system": name,
                "runs": len(rs),
                "failed": len(rs) - len(ok),
                "pages": pages,
                "seconds": round(seconds, 2),
                "pages_per_s": None if rate is None else round(rate, 3),
                "x_ocrmypdf": None if rate is None or base_rate is None else round(rate / base_rate, 2),
                "first_page_s_mean": round(sum(firsts) / len(firsts), 2) if firsts else None,
                "document_s_mean": round(seconds / len(ok), 2) if ok else None,
                "word_f1": round(words.f1, 4) if ok else None,
                "errors": sorted({r["error"] for r in rs if r["error"]}),
            }
        )
    return rows


def speed_table(rows: Sequence[Record]) -> str:
    head = ["system", "runs", "pages", "pages/s", "× OCRmyPDF pdf", "first page out (s, mean)", "document (s, mean)",
            "word F1 of its output"]  # fmt: skip
    body = [[r["system"], f"skipped: {r['skipped']}", *["–"] * 6] for r in rows if "skipped" in r]
    body[:0] = [
        [
            r["system"] + (f" ({r['failed']} failed)" if r["failed"] else ""),
            str(r["runs"]),
            str(r["pages"]),
            cell(r["pages_per_s"]),
            cell(r["x_ocrmypdf"], 2),
            "= document (one PDF at the end)" if r["first_page_s_mean"] is None else cell(r["first_page_s_mean"], 2),
            cell(r["document_s_mean"], 2),
            cell(r["word_f1"], 4),
        ]
        for r in rows
        if "skipped" not in r
    ]
    return table(head, body)
