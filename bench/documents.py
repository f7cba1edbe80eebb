"""``python -m bench.documents``: documents read by our runtime beside Tesseract 5, RapidOCR, pdftotext and OCRmyPDF,
all in the same run.

Four tables (figures as ``shared/eval/README.md`` defines them, "Document figures"):

1. **Reading order** on ``doc_columns``: reading-order NED (mean over pages, and by column count), word F1 and block
   recall (IoU >= 0.5) of ``edge_runtime.document.read_document`` on the scanned images, the scanned PDFs and the
   born-digital PDFs, against Tesseract 5 (``--psm 3``, one thread: TSV order, paragraphs as blocks), RapidOCR
   (lines top to bottom) and pdftotext.
2. **PDF = image**: word F1 of scanned PDF pages against the same pages sent as images (``doc_columns`` scans,
   ``doc_scans`` against the receipt images they embed).
3. **Speed on scanned PDFs**: pages/s and time to the first page out, our ``python -m edge_runtime document --to
   pdf`` (and ``--to json``, which writes each page as it is read) and in-process ``read_document`` against OCRmyPDF
   with Tesseract (``--output-type pdf`` and ``pdfa``) and OCRmyPDF with our plugin when that module is importable,
   ``--jobs`` equal for all (our ``--threads``). Systems are interleaved file by file, their order rotated, so a
   busy neighbour slows them alike.
4. **Born-digital**: pages/s and exactness of the text layer against OCR of the same pages (``--text-layer
   ignore``), and pdftotext.

A peer that is missing is named with the reason and its rows are left out. The JSON result holds every page's
figures, the host's CPU and its load average sampled during the run (a shared host skews every timing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from bench.doc_peers import (
    PeerPage,
    missing_document_peers,
    pdftotext_page,
    rapidocr_page_reader,
    tesseract_page,
    tool_version,
)
from bench.doc_scoring import BLOCK_IOU, PeerScore, box_polygon, score_words
from bench.doc_speed import OCRMYPDF, SPEED_PEERS, first_pages, speed_section, speed_summary, speed_systems, speed_table
from bench.doc_tables import cell, table
from edge_runtime.document.reader import Recognizer, read_document
from edge_runtime.document.sources import DocumentOptions
from edge_runtime.document.structure import Page
from edge_runtime.document.textlayer import TextLayerMode
from edge_runtime.evaluation.documents import match_blocks, score_page, truth_polygons
from edge_runtime.evaluation.metrics import WordCounts, word_counts

__all__ = ["main", "summarise", "LoadSampler"]

POINTS_PER_INCH = 72.0
SPEED_SETS = ("doc_scans", "doc_columns")  # where the timed scanned PDFs come from
Record = dict[str, Any]


# ---- host -----------------------------------------------------------------------------------------------------------
class LoadSampler:
    """The 1-minute load average sampled every ``every`` seconds while the bench runs (a shared host's skew)."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[float] = []
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self._every):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        s = self.samples or [os.getloadavg()[0]]
        return {"mean": round(sum(s) / len(s), 2), "min": round(min(s), 2), "max": round(max(s), 2), "n": len(s)}


def _host() -> dict[str, Any]:
    from bench.latency import _cpu  # the CPU line every bench records: model, logical CPUs, INT8/BF16 flags
    from edge_runtime.cpu import cpu_features

    return {
        "cpu": _cpu(),
        "cpu_flags": cpu_features(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "niceness": os.nice(0),
    }


# ---- our pages in the truth's coordinates ---------------------------------------------------------------------------
def _ours(row: Record, page: Page, seconds: float, kind: str, key: str, scale: tuple[float, float]) -> Record:
    """Our page scored by ``edge_runtime.evaluation.documents`` (its paragraphs are the blocks that block recall
    counts); ``key`` and ``scale`` take the truth's ``points`` or ``pdf_box`` into the page's pixels. Beside it,
    the recall of our ``Block`` objects themselves (coarser: a column's run of paragraphs is one block)."""
    score = score_page(page, row, key, scale)
    truth = truth_polygons(row["blocks"], key, scale)
    objects = len(match_blocks(truth, [b.polygon for b in page.blocks if len(b.polygon) >= 3], BLOCK_IOU))
    extra = {"block_objects_found": objects, "source": str(page.source), "error": page.error}
    return _record(row, "ours", seconds, PeerScore(score.ned, score.words, score.found, score.blocks), kind, extra)


def _record(
    row: Record, system: str, seconds: float, score: PeerScore, kind: str, extra: Record | None = None
) -> Record:
    return {
        "system": system,
        "image": row["image"],
        "columns": row["columns"],
        "seconds": round(seconds, 4),
        "ned": round(score.ned, 4),
        "matched": score.words.matched,
        "predicted": score.words.predicted,
        "truth": score.words.truth,
        "found": score.found,
        "blocks": score.blocks,
        "input": kind,
        **(extra or {}),
    }


def _timed_pages(pages: Iterator[Page]) -> Iterator[tuple[Page, float]]:
    """Each page with the seconds it took to come out (the first one includes opening the document)."""
    start = time.perf_counter()
    for page in pages:
        now = time.perf_counter()
        yield page, now - start
        start = time.perf_counter()


# ---- 1 and 4: doc_columns -------------------------------------------------------------------------------------------
def _by_document(rows: Sequence[Record]) -> list[tuple[str, list[Record]]]:
    docs: dict[str, list[Record]] = {}
    for row in rows:
        docs.setdefault(row["pdf"], []).append(row)
    return list(docs.items())


def columns_section(
    root: Path, rows: Sequence[Record], engine: Recognizer, skip: dict[str, str], log: Callable[[str], None]
) -> list[Record]:
    """Every system on every selected page of ``doc_columns``, document by document (systems interleaved)."""
    peers: list[tuple[str, str, Callable[[Record], PeerPage]]] = []
    if "tesseract" not in skip:
        peers.append(("tesseract", "image", lambda r: tesseract_page(root / r["image"])))
    if "rapidocr" not in skip:
        rapid = rapidocr_page_reader()
        peers.append(("rapidocr", "image", lambda r: rapid(root / r["image"])))
    if "pdftotext" not in skip:
        peers.append(("pdftotext", "born-digital PDF", lambda r: pdftotext_page(root / r["pdf"], r["page"])))
    records: list[Record] = []
    for pdf, doc_rows in _by_document(rows):
        pages = ",".join(str(r["page"]) for r in doc_rows)
        quads = {r["page"]: [b["points"] for b in r["blocks"]] for r in doc_rows}
        boxes = {r["page"]: [box_polygon(*b["pdf_box"]) for b in r["blocks"]] for r in doc_rows}
        by_page = {r["page"]: r for r in doc_rows}
        for row in doc_rows:  # ours: the page image, the scanned PDF, the born-digital PDF (text layer, then OCR)
            start = time.perf_counter()
            page = next(read_document(root / row["image"], engine))
            records.append(_ours(row, page, time.perf_counter() - start, "image", "points", (1.0, 1.0)))
        scan = root / doc_rows[0]["scanned_pdf"]
        for page, seconds in _timed_pages(read_document(scan, engine, DocumentOptions(pages))):
            row = by_page[page.number]
            with Image.open(root / row["image"]) as im:
                scale = (page.width / im.size[0], page.height / im.size[1])
            records.append(_ours(row, page, seconds, "scanned PDF", "points", scale))
        for mode, kind in ((TextLayerMode.AUTO, "born-digital PDF"), (TextLayerMode.IGNORE, "born-digital PDF, OCR")):
            for page, seconds in _timed_pages(read_document(root / pdf, engine, DocumentOptions(pages, mode))):
                dpi = page.dpi / POINTS_PER_INCH
                records.append(_ours(by_page[page.number], page, seconds, kind, "pdf_box", (dpi, dpi)))
        for system, kind, read_peer in peers:
            for row in doc_rows:
                start = time.perf_counter()
                got = read_peer(row)
                seconds = time.perf_counter() - start if got.seconds is None else got.seconds
                truth_blocks = boxes[row["page"]] if kind.startswith("born") else quads[row["page"]]
                score = score_words(got.words, [b["text"] for b in row["blocks"]], got.blocks, truth_blocks)
                records.append(_record(row, system, seconds, score, kind))
        log(f"doc_columns {pdf}: {len(doc_rows)} pages, ours on 4 inputs, {len(peers)} peers")
    return records


def summarise(records: Sequence[Record]) -> list[Record]:
    """One row per (system, input): pages, mean NED (and by column count), word F1, block recall, pages/s."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        groups.setdefault((r["system"], r["input"]), []).append(r)
    rows = []
    for (system, kind), rs in groups.items():
        counts = sum((WordCounts(r["matched"], r["predicted"], r["truth"]) for r in rs), WordCounts())
        by_cols = {}
        for n in (1, 2, 3):
            ned = [r["ned"] for r in rs if r["columns"] == n]
            by_cols[f"ned_{n}col"] = round(sum(ned) / len(ned), 4) if ned else None
        blocks = sum(r["blocks"] for r in rs)
        found = None if any(r["found"] is None for r in rs) else sum(r["found"] for r in rs)
        objects = [r.get("block_objects_found") for r in rs]
        seconds = sum(r["seconds"] for r in rs)
        rows.append(
            {
                "system": system,
                "input": kind,
                "pages": len(rs),
                "ned": round(sum(r["ned"] for r in rs) / len(rs), 4),
                **by_cols,
                "word_f1": round(counts.f1, 4),
                "block_recall": None if found is None else round(found / blocks, 4),
                "block_object_recall": None if None in objects else round(sum(o or 0 for o in objects) / blocks, 4),
                "seconds": round(seconds, 3),
                "pages_per_s": round(len(rs) / seconds, 3) if seconds > 0 else None,
                "sources": sorted({r["source"] for r in rs if "source" in r}),
            }
        )
    return rows


# ---- 2: PDF pages against the same pages as images ------------------------------------------------------------------
def scans_section(
    root: Path, rows: Sequence[Record], engine: Recognizer, max_pages: int, log: Callable[[str], None]
) -> list[Record]:
    """``doc_scans``: each bundle's pages read from the PDF, then each page's source image, against its lines."""
    records = []
    eval_dir = root.parent
    for row in rows:
        truths = row["pages"][:max_pages] if max_pages > 0 else row["pages"]
        options = DocumentOptions(f"1-{len(truths)}")
        pdf_pages = list(_timed_pages(read_document(root / row["pdf"], engine, options)))
        for (page, seconds), truth in zip(pdf_pages, truths, strict=True):
            lines = [ln["text"] for ln in truth["lines"] if not ln.get("ignore")]
            start = time.perf_counter()
            image_page = next(read_document(eval_dir / truth["source"], engine))
            image_seconds = time.perf_counter() - start
            pdf_counts = word_counts([" ".join(w.text for w in page.words())], lines)
            image_counts = word_counts([" ".join(w.text for w in image_page.words())], lines)
            records.append(
                {
                    "pdf": row["pdf"],
                    "page": page.number,
                    "source": truth["source"],
                    "dpi": round(page.dpi, 1),
                    "pdf_seconds": round(seconds, 4),
                    "image_seconds": round(image_seconds, 4),
                    "pdf_words": [pdf_counts.matched, pdf_counts.predicted, pdf_counts.truth],
                    "image_words": [image_counts.matched, image_counts.predicted, image_counts.truth],
                    "same_words": sorted(w.text for w in page.words()) == sorted(w.text for w in image_page.words()),
                }
            )
        log(f"doc_scans {row['pdf']}: {len(truths)} pages from the PDF and from the images")
    return records


def pdf_vs_image(columns: Sequence[Record], scans: Sequence[Record]) -> list[Record]:
    """Word F1 from the PDF and from the image, set by set, and how many pages read exactly the same words."""
    out = []
    col_pdf = [r for r in columns if r["system"] == "ours" and r["input"] == "scanned PDF"]
    col_img = {r["image"]: r for r in columns if r["system"] == "ours" and r["input"] == "image"}
    pairs = [(p, col_img[p["image"]]) for p in col_pdf if p["image"] in col_img]
    if pairs:
        pdf = sum((WordCounts(p["matched"], p["predicted"], p["truth"]) for p, _ in pairs), WordCounts())
        img = sum((WordCounts(i["matched"], i["predicted"], i["truth"]) for _, i in pairs), WordCounts())
        pdf_s, img_s = sum(p["seconds"] for p, _ in pairs), sum(i["seconds"] for _, i in pairs)
        out.append(_pdf_image_row("doc_columns (scanned PDF)", len(pairs), pdf, img, None, pdf_s, img_s))
    if scans:
        pdf = sum((WordCounts(*r["pdf_words"]) for r in scans), WordCounts())
        img = sum((WordCounts(*r["image_words"]) for r in scans), WordCounts())
        same = sum(r["same_words"] for r in scans)
        pdf_s, img_s = sum(r["pdf_seconds"] for r in scans), sum(r["image_seconds"] for r in scans)
        out.append(_pdf_image_row("doc_scans", len(scans), pdf, img, same, pdf_s, img_s))
    return out


def _pdf_image_row(
    name: str, pages: int, pdf: WordCounts, img: WordCounts, same: int | None, pdf_s: float, img_s: float
) -> Record:
    return {
        "set": name,
        "pages": pages,
        "word_f1_pdf": round(pdf.f1, 4),
        "word_f1_image": round(img.f1, 4),
        "difference_pt": round(100 * (pdf.f1 - img.f1), 2),
        "same_words_pages": same,
        "s_per_page_pdf": round(pdf_s / pages, 3),
        "s_per_page_image": round(img_s / pages, 3),
    }


# ---- tables ---------------------------------------------------------------------------------------------------------
def columns_table(rows: Sequence[Record]) -> str:
    head = ["system", "input", "pages", "reading-order NED", "NED 1 / 2 / 3 col", "word F1", "block recall",
            "our Block objects' recall", "pages/s"]  # fmt: skip
    body = [
        [
            r["system"],
            r["input"],
            str(r["pages"]),
            cell(r["ned"]),
            " / ".join(cell(r[f"ned_{n}col"]) for n in (1, 2, 3)),
            cell(r["word_f1"], 4),
            cell(r["block_recall"]),
            cell(r["block_object_recall"]),
            cell(r["pages_per_s"], 2),
        ]
        for r in rows
    ]
    return table(head, body)


def pdf_image_table(rows: Sequence[Record]) -> str:
    head = ["set", "pages", "word F1 from PDF", "word F1 from image", "PDF − image (pt)", "pages with equal words",
            "s/page PDF", "s/page image"]  # fmt: skip
    body = [
        [
            r["set"],
            str(r["pages"]),
            cell(r["word_f1_pdf"], 4),
            cell(r["word_f1_image"], 4),
            f"{r['difference_pt']:+.2f}",
            "–" if r["same_words_pages"] is None else f"{r['same_words_pages']} of {r['pages']}",
            cell(r["s_per_page_pdf"], 2),
            cell(r["s_per_page_image"], 2),
        ]
        for r in rows
    ]
    return table(head, body)


def born_digital_table(rows: Sequence[Record]) -> str:
    born = [r for r in rows if r["input"].startswith("born-digital")]
    ocr = next((r for r in born if r["system"] == "ours" and r["input"] == "born-digital PDF, OCR"), None)
    head = ["system", "read by", "pages", "pages/s", "× OCR of the same pages", "word F1", "reading-order NED"]
    body = []
    for r in born:
        how = "OCR (--text-layer ignore)" if r["input"].endswith("OCR") else ", ".join(r["sources"]) or "text layer"
        ratio = None
        if ocr is not None and r["pages_per_s"] and ocr["pages_per_s"]:
            ratio = r["pages_per_s"] / ocr["pages_per_s"]
        cells = [cell(r["pages_per_s"], 2), cell(ratio, 1), cell(r["word_f1"], 4), cell(r["ned"])]
        body.append([r["system"], how, str(r["pages"]), *cells])
    return table(head, body)


# ---- CLI ------------------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.documents",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--eval-dir", type=Path, default=None, help="default: $OCR_EVAL_DIR or ../shared/eval")
    parser.add_argument("--columns-pages", type=int, default=0, help="first N pages of doc_columns (0: all)")
    parser.add_argument("--scan-docs", type=int, default=0, help="first N PDFs of doc_scans for PDF = image (0: all)")
    parser.add_argument("--scan-pages", type=int, default=0, help="first N pages of each doc_scans PDF (0: all)")
    parser.add_argument(
        "--speed-files", type=int, default=2, help="scanned PDFs timed from each of doc_scans and doc_columns"
    )
    parser.add_argument(
        "--speed-sets", nargs="+", default=list(SPEED_SETS), choices=SPEED_SETS, help="sets the timed PDFs come from"
    )
    parser.add_argument("--speed-pages", type=int, default=0, help="each timed PDF cut to its first N pages (0: all)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each system on each scanned PDF")
    parser.add_argument("--jobs", type=int, default=1, help="OCRmyPDF --jobs and our --threads (equal for both)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["columns", "scans", "speed"], help="tables left out")
    parser.add_argument("--backend", default=None, help="our engine's backend (default: as served)")
    parser.add_argument("--precision", default=None, help="our engine's precision (default: as served)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure and page record here")
    return parser


def _rows(path: Path, limit: int) -> list[Record]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit > 0 else rows


def _speed_files(
    eval_dir: Path, count: int, pages: int, folder: Path, sets: Sequence[str] = SPEED_SETS
) -> list[tuple[str, Path, int, list[str]]]:
    """The first ``count`` PDFs of doc_scans and of doc_columns' scans (of ``sets``), each cut to ``pages`` pages
    (0: all), with the true texts of those pages."""
    files = []
    scans = _rows(eval_dir / "doc_scans" / "labels.jsonl", count) if "doc_scans" in sets else []
    for row in scans:
        path, n = first_pages(eval_dir / "doc_scans" / row["pdf"], pages, folder)
        truth = [ln["text"] for page in row["pages"][:n] for ln in page["lines"] if not ln.get("ignore")]
        files.append((f"doc_scans/{row['pdf']}", path, n, truth))
    column_rows = _rows(eval_dir / "doc_columns" / "labels.jsonl", 0)
    column_scans = list(dict.fromkeys(r["scanned_pdf"] for r in column_rows))[:count] if "doc_columns" in sets else []
    for scan in column_scans:
        path, n = first_pages(eval_dir / "doc_columns" / scan, pages, folder)
        pages_of = {r["page"]: r for r in column_rows if r["scanned_pdf"] == scan}
        truth = [b["text"] for k in range(1, n + 1) for b in pages_of[k]["blocks"]]
        files.append((f"doc_columns/{scan}", path, n, truth))
    return files


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench_documents_") as folder:
        yield Path(folder)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bench.accuracy import default_eval_dir
    from edge_runtime.config import EngineConfig
    from edge_runtime.pipeline import OcrEngine

    eval_dir = args.eval_dir or default_eval_dir()
    columns_root, scans_root = eval_dir / "doc_columns", eval_dir / "doc_scans"
    for root in (columns_root, scans_root):
        if not (root / "labels.jsonl").is_file():
            print(f"error: {root / 'labels.jsonl'} is missing (--eval-dir or OCR_EVAL_DIR)", file=sys.stderr)
            return 2

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    skip = missing_document_peers()
    for name, why in skip.items():
        log(f"skipped peer {name}: {why}")
    settings: dict[str, Any] = {"threads": args.jobs}
    engine_args = ["--threads", str(args.jobs)]
    for flag in ("backend", "precision"):
        if getattr(args, flag):
            settings[flag] = getattr(args, flag)
            engine_args += [f"--{flag}", getattr(args, flag)]
    engine = OcrEngine(EngineConfig(**settings))
    engine.warm_up()
    report: dict[str, Any] = {
        "command": "python -m bench.documents " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        "host": _host(),
        "engine": {"bundle": engine.bundle.id, "backend": engine.backend, "precision": engine.precision, **settings},
        "versions": {
            "tesseract": tool_version(["tesseract", "--version"]),
            "pdftotext": tool_version(["pdftotext", "-v"]),
            "ocrmypdf": tool_version([sys.executable, "-m", "ocrmypdf", "--version"]),
            "ghostscript": tool_version(["gs", "--version"]),
        },
        "skipped_peers": skip,
    }
    tables = []
    with LoadSampler() as load, _scratch() as scratch:
        columns: list[Record] = []
        scans: list[Record] = []
        if "columns" not in args.skip:
            columns = columns_section(
                columns_root, _rows(columns_root / "labels.jsonl", args.columns_pages), engine, skip, log
            )
            report["columns"] = summarise(columns)
            tables.append("## Reading order (doc_columns)\n\n" + columns_table(report["columns"]))
            tables.append("## Born-digital pages: text layer against OCR\n\n" + born_digital_table(report["columns"]))
        if "scans" not in args.skip:
            scan_rows = _rows(scans_root / "labels.jsonl", args.scan_docs)
            scans = scans_section(scans_root, scan_rows, engine, args.scan_pages, log)
        if columns or scans:
            report["pdf_vs_image"] = pdf_vs_image(columns, scans)
            tables.append("## Scanned PDF pages against the same pages as images\n\n" + pdf_image_table(
                report["pdf_vs_image"]))  # fmt: skip
        if "speed" not in args.skip and args.speed_files > 0:
            files = _speed_files(eval_dir, args.speed_files, args.speed_pages, scratch, args.speed_sets)
            systems = speed_systems(engine, engine_args, args.jobs, skip, scratch)
            speed = speed_section(files, systems, args.repeat, log)
            report["speed"] = speed_summary(speed, OCRMYPDF)
            report["speed"] += [{"system": n, "skipped": skip[peer]} for peer, n in SPEED_PEERS.items() if peer in skip]
            report["speed_runs"] = speed
            tables.append(f"## Scanned PDFs: pages/s, --jobs {args.jobs}\n\n" + speed_table(report["speed"]))
        report["columns_pages"] = columns
        report["scans_pages"] = scans
    report["loadavg"] = {"1min_during_run": load.summary(), "at_end": os.getloadavg()}
    print("\n\n".join(tables))
    load_line = f"load average (1 min) during the run: {report['loadavg']['1min_during_run']}"
    print(f"\n{load_line}; host: {report['host']['cpu']}")
    for name, why in skip.items():
        print(f"skipped peer {name}: {why}")
    for row in report.get("speed", []):
        for error in row.get("errors", []):
            print(f"failed: {row['system']}: {error}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
