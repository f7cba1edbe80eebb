"""Layout regions and tables, measured: block kinds and reading order on ``doc_columns`` with and without layout,
table cells on project-rendered table pages, and what layout costs per page against the plain documents path.

    python -m bench.doc_layout [--eval-dir ../shared/eval] [--tables 12] [--json out.json]

Block kinds: for each labelled block (title, heading, paragraph, header, footer) the kind of the predicted block that
holds most of the words whose centre lies inside its quad; right when it maps to the label (paragraph: text or list;
header and footer: a page number too). Reading order: the documents issue's NED (``evaluation.documents``). Tables:
a true cell is right when a predicted cell starts at the same row and column, spans the same columns and reads the
same text (white space collapsed); ``from words`` uses the words as drawn (the structure step alone), ``OCR`` the
page read by the engine and the layout model (the whole path).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.doc_tables import cell, table
from edge_runtime.document.layout_model import load_layout_model
from edge_runtime.document.reader import read_page
from edge_runtime.document.regions import apply_regions
from edge_runtime.document.sources import SourcePage
from edge_runtime.document.structure import BlockKind, DocWord, Page
from edge_runtime.document.tables import build_table
from edge_runtime.evaluation.documents import rows as label_rows
from edge_runtime.evaluation.documents import score_page
from edge_runtime.evaluation.synth.tables import TablePage, table_page

RIGHT = {
    "title": {BlockKind.TITLE},
    "heading": {BlockKind.HEADING},
    "paragraph": {BlockKind.TEXT, BlockKind.LIST},
    "header": {BlockKind.HEADER, BlockKind.PAGE_NUMBER},
    "footer": {BlockKind.FOOTER, BlockKind.PAGE_NUMBER},
}


def _inside(point: tuple[float, float], quad: list[list[float]]) -> bool:
    return cv2.pointPolygonTest(np.asarray(quad, np.float32), (float(point[0]), float(point[1])), False) >= 0


def block_kinds(page: Page, blocks: list[dict]) -> list[tuple[str, BlockKind | None]]:
    """For each labelled block, its label and the kind of the predicted block holding most of its words."""
    placed = []
    for b in page.blocks:
        for p in b.paragraphs:
            for ln in p.lines:
                for w in ln.words:
                    xs = [x for x, _ in w.polygon]
                    ys = [y for _, y in w.polygon]
                    placed.append(((sum(xs) / len(xs), sum(ys) / len(ys)), b.kind))
    out = []
    for truth in blocks:
        votes = Counter(kind for centre, kind in placed if _inside(centre, truth["points"]))
        out.append((truth["kind"], votes.most_common(1)[0][0] if votes else None))
    return out


def columns_section(root: Path, engine: Any, layout: Any) -> dict[str, Any]:
    plain_s = layout_s = 0.0
    ned: dict[str, list[float]] = {"plain": [], "layout": []}
    kinds: dict[str, list[tuple[str, BlockKind | None]]] = {"plain": [], "layout": []}
    for row in label_rows(root):
        image = cv2.imread(str(root / row["image"]))
        assert image is not None, row["image"]
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        page = read_page(SourcePage(1, image, w, h), engine)
        t1 = time.perf_counter()
        laid = apply_regions(page, layout.regions(image), image)
        t2 = time.perf_counter()
        plain_s += t1 - t0
        layout_s += t2 - t1
        for name, p in (("plain", page), ("layout", laid)):
            ned[name].append(score_page(p, row).ned)
            kinds[name] += block_kinds(p, row["blocks"])
    n = len(ned["plain"])
    out: dict[str, Any] = {"pages": n, "plain_s_per_page": plain_s / n, "layout_extra_s_per_page": layout_s / n}
    for name in ("plain", "layout"):
        pairs = kinds[name]
        out[name] = {
            "ned": sum(ned[name]) / n,
            "kinds_right": sum(k in RIGHT[t] for t, k in pairs if t in RIGHT) / max(1, len(pairs)),
            "by_kind": {
                t: (sum(k in RIGHT[t] for tt, k in pairs if tt == t), sum(tt == t for tt, _ in pairs)) for t in RIGHT
            },
        }
    return out


def _norm(text: str) -> str:
    return " ".join(text.split())


def cells_right(predicted: Any, truth: TablePage) -> tuple[int, int, bool]:
    """(right true non-empty cells, true non-empty cells, grid shape right)."""
    got = {(c.row, c.col, c.col_span): _norm(c.text) for c in (predicted.cells if predicted else ())}
    wanted = [(c.row, c.col, c.col_span, _norm(c.text)) for c in truth.cells if c.text]
    right = sum(got.get((r, c, s)) == t for r, c, s, t in wanted)
    shape = predicted is not None and (predicted.rows, predicted.cols) == (truth.rows, truth.cols)
    return right, len(wanted), shape


def _truth_words(tp: TablePage) -> list[DocWord]:
    x0, y0, x1, y1 = tp.box
    words = []
    for ln in tp.lines:
        for w in ln.words:
            cx = sum(x for x, _ in w.polygon) / 4
            cy = sum(y for _, y in w.polygon) / 4
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                words.append(DocWord(w.text, w.confidence, w.polygon))
    return words


def tables_section(count: int, engine: Any, layout: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ruled in (True, False):
        tally: dict[str, Any] = {"words": [0, 0, 0], "ocr": [0, 0, 0], "found": 0, "pages": 0}
        for seed in range(count):
            tp = table_page(seed, rows=4 + seed % 5, cols=3 + seed % 3, ruled=ruled, span=seed % 2 == 0)
            image = cv2.cvtColor(np.asarray(tp.image), cv2.COLOR_RGB2BGR)
            direct = build_table(_truth_words(tp), tp.box, image)
            page = read_page(SourcePage(1, image, image.shape[1], image.shape[0]), engine)
            laid = apply_regions(page, layout.regions(image), image)
            found = [b.table for b in laid.blocks if b.table is not None]
            best = max(found, key=lambda t: sum(c.text != "" for c in t.cells), default=None)
            tally["found"] += best is not None
            tally["pages"] += 1
            for key, got in (("words", direct), ("ocr", best)):
                r, n, shape = cells_right(got, tp)
                tally[key][0] += r
                tally[key][1] += n
                tally[key][2] += shape
        name = "ruled" if ruled else "unruled"
        out[name] = {
            "pages": tally["pages"],
            "table_found": tally["found"] / tally["pages"],
            "cells_from_words": tally["words"][0] / max(1, tally["words"][1]),
            "shape_from_words": tally["words"][2] / tally["pages"],
            "cells_ocr": tally["ocr"][0] / max(1, tally["ocr"][1]),
            "shape_ocr": tally["ocr"][2] / tally["pages"],
        }
    return out


def report(result: dict[str, Any]) -> str:
    c = result["columns"]
    lines = [
        f"doc_columns, {c['pages']} pages: plain documents path {cell(c['plain_s_per_page'], 2)} s/page, layout adds "
        f"{cell(c['layout_extra_s_per_page'], 2)} s/page",
        "",
        table(
            ["path", "reading-order NED", "kinds right", *RIGHT],
            [
                [name, cell(c[name]["ned"]), cell(c[name]["kinds_right"])]
                + [f"{a}/{b}" for a, b in c[name]["by_kind"].values()]
                for name in ("plain", "layout")
            ],
        ),
        "",
        table(
            ["tables", "pages", "table found", "cells (words)", "shape (words)", "cells (OCR)", "shape (OCR)"],
            [
                [
                    k,
                    str(v["pages"]),
                    cell(v["table_found"]),
                    cell(v["cells_from_words"]),
                    cell(v["shape_from_words"]),
                    cell(v["cells_ocr"]),
                    cell(v["shape_ocr"]),
                ]
                for k, v in result["tables"].items()
            ],
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.doc_layout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=None, help="default: $OCR_EVAL_DIR or ../shared/eval")
    parser.add_argument("--tables", type=int, default=12, help="rendered table pages per kind (ruled, unruled)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    from bench.accuracy import default_eval_dir
    from bench.documents import LoadSampler, _host
    from edge_runtime.config import EngineConfig
    from edge_runtime.pipeline import OcrEngine

    engine = OcrEngine(EngineConfig(threads=args.threads))
    engine.warm_up()
    layout = load_layout_model()
    with LoadSampler() as load:
        columns = columns_section((args.eval_dir or default_eval_dir()) / "doc_columns", engine, layout)
        result = {"columns": columns, "tables": tables_section(args.tables, engine, layout)}
    result["host"] = {**_host(), "load": load.summary(), "bundle": engine.bundle.id, "precision": engine.precision}
    print(report(result))
    print(json.dumps(result["host"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
