"""Key fields and form pairs measured on the eval sets: receipts (kie_sroie, kie_sroie_train) and forms (kv_funsd).

OCR runs once per image and its lines are cached under bench/out/fields_cache/ (JSON, git-ignored), so tuning the
rules re-runs only the extraction; ``--fresh`` reads again. Figures use the definitions of ../shared/eval/README.md
(field F1, pair F1) and print as the Markdown tables of docs/fields.md, beside the naive rules of
BASELINES_DOCS.md run on the same lines in the same run.

    python -m bench.fields [--eval-dir DIR] [--sets kie_sroie,kie_sroie_train,kv_funsd] [--fresh] [--reread]
                           [--show total]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.doc_tables import cell, table
from edge_runtime.fields.normalise import AMOUNT_RE, DATE_RE
from edge_runtime.fields.pairs import form_pairs
from edge_runtime.fields.receipt import receipt_fields
from edge_runtime.fields.reread import reread_header
from edge_runtime.fields.scoring import RECEIPT_FIELDS, field_scores, normalised, pair_scores
from edge_runtime.fields.text import Line, lines_of, rows_of
from edge_runtime.types import TextLine, Word

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / "out" / "fields_cache"
SETS = ("kie_sroie", "kie_sroie_train", "kv_funsd")


def _rows(eval_dir: Path, name: str) -> list[dict]:
    with (eval_dir / name / "labels.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _line_json(line: TextLine) -> dict:
    return {
        "text": line.text,
        "confidence": line.confidence,
        "polygon": [list(p) for p in line.polygon],
        "words": [
            {"text": w.text, "confidence": w.confidence, "polygon": [list(p) for p in w.polygon]} for w in line.words
        ],
    }


def _line_of(d: dict) -> TextLine:
    words = tuple(Word(w["text"], w["confidence"], tuple(tuple(p) for p in w["polygon"])) for w in d["words"])
    return TextLine(d["text"], d["confidence"], tuple(tuple(p) for p in d["polygon"]), words)


def ocr_lines(eval_dir: Path, name: str, rows: Sequence[dict], fresh: bool = False) -> list[list[TextLine]]:
    """Each row's OCR lines, from the cache or read now (and cached)."""
    engine = None
    out = []
    for row in rows:
        path = CACHE / name / (Path(row["image"]).stem + ".json")
        if fresh or not path.exists():
            if engine is None:
                from edge_runtime.pipeline import OcrEngine

                engine = OcrEngine()
            result = engine.recognize(eval_dir / name / row["image"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps([_line_json(ln) for ln in result.lines]), encoding="utf-8")
        out.append([_line_of(d) for d in json.loads(path.read_text(encoding="utf-8"))])
    return out


def reread_lines(
    eval_dir: Path, name: str, rows: Sequence[dict], lines: list[list[TextLine]], fresh: bool = False
) -> list[list[TextLine]]:
    """Each row's lines with the header read a second time (``fields.reread``), from the cache or read now."""
    engine = None
    out = []
    for row, page in zip(rows, lines, strict=True):
        path = CACHE / name / (Path(row["image"]).stem + ".reread.json")
        if fresh or not path.exists():
            if engine is None:
                from edge_runtime.pipeline import OcrEngine

                engine = OcrEngine()
            again = reread_header(engine, engine.load_image(eval_dir / name / row["image"]), page)
            path.write_text(json.dumps([_line_json(ln) for ln in again]), encoding="utf-8")
        out.append([_line_of(d) for d in json.loads(path.read_text(encoding="utf-8"))])
    return out


# --- the naive rules of BASELINES_DOCS.md, on the same lines (the floor, re-measured in this run) ---


def naive_receipt(lines: Sequence[Line]) -> dict[str, str]:
    """company = first line, address = the next two, date = first date-looking string, total = last amount on the
    last line saying TOTAL (not SUBTOTAL), else the largest amount."""
    out = {"company": lines[0].text if lines else "", "address": " ".join(ln.text for ln in lines[1:3])}
    date = next((m.group(0) for ln in lines if (m := DATE_RE.search(ln.text))), "")
    out["date"] = date
    totals = [ln for ln in lines if re.search(r"TOTAL", ln.text, re.I) and not re.search(r"SUB\s*TOTAL", ln.text, re.I)]
    amounts = AMOUNT_RE.findall(totals[-1].text) if totals else []
    if not amounts:
        every = [a for ln in lines for a in AMOUNT_RE.findall(ln.text)]
        amounts = [max(every, key=lambda a: float(a.replace(",", "")))] if every else [""]
    out["total"] = amounts[-1]
    return out


def naive_pairs(lines: Sequence[Line]) -> list[tuple[str, str]]:
    """A line "Key: value" gives (Key:, value); a line ending with ':' takes the nearest line right of it on its row."""
    out = []
    for row in rows_of(lines):
        for i, line in enumerate(row):
            key, colon, value = line.text.partition(":")
            if colon and value.strip():
                out.append((key + ":", value.strip()))
            elif colon and i + 1 < len(row):
                out.append((line.text, row[i + 1].text))
    return out


def _receipts(
    name: str, rows: list[dict], lines: list[list[Line]], show: str, again: list[list[Line]] | None = None
) -> list[list[str]]:
    """The naive rules, the receipt rules and, given ``again`` (the lines with the header read again), the
    receipt rules on those; ``show`` lists the misses of the last."""
    truth = [r["fields"] for r in rows]
    systems = [
        ("naive rules (floor)", [naive_receipt(ls) for ls in lines]),
        ("edge_runtime.fields", [{f.name: f.text for f in receipt_fields(ls)} for ls in lines]),
    ]
    if again is not None:
        systems.append(("+ header read again", [{f.name: f.text for f in receipt_fields(ls)} for ls in again]))
    preds = systems[-1][1]
    out = []
    for system, predicted in systems:
        s = field_scores(predicted, truth)
        out.append(
            [
                name,
                system,
                cell(s.precision),
                cell(s.recall),
                cell(s.f1),
                *(cell(s.per_field[n]) for n in RECEIPT_FIELDS),
            ]
        )
    for row, pred in zip(rows, preds, strict=True):
        for n in filter(None, show.split(",")):
            a, b = normalised(n, pred.get(n, "")), normalised(n, row["fields"].get(n, ""))
            if a != b:
                print(f"  {row['image']} {n}: {a!r} != {b!r}", file=sys.stderr)
    return out


def halves(rows: Sequence[dict]) -> tuple[list[int], list[int]]:
    """kv_funsd has no train split: its forms sorted by image id, alternately into the half the form rules were tuned
    on and the half that checks them (docs/fields.md)."""
    order = sorted(range(len(rows)), key=lambda i: rows[i]["image"])
    return sorted(order[0::2]), sorted(order[1::2])


def _forms(name: str, rows: list[dict], lines: list[list[Line]]) -> list[list[str]]:
    truth = [[(p["key"], p["value"]) for p in r["pairs"]] for r in rows]
    tune, check = halves(rows)
    out = []
    for system, predicted in (
        ("naive rules (floor)", [naive_pairs(ls) for ls in lines]),
        ("edge_runtime.fields", [[(kv.key.text, kv.value.text) for kv in form_pairs(ls)] for ls in lines]),
    ):
        for part, idx in (("tune half", tune), ("check half", check), ("all", range(len(rows)))):
            s = pair_scores([predicted[i] for i in idx], [truth[i] for i in idx])
            cells = [str(s.predicted), str(s.found), cell(s.precision), cell(s.recall), cell(s.f1)]
            out.append([f"{name} ({part}, {len(idx)})", system, *cells])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fields", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_eval = Path(os.environ.get("OCR_EVAL_DIR", REPO.parent / "shared" / "eval"))
    parser.add_argument("--eval-dir", type=Path, default=default_eval)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--fresh", action="store_true", help="read the images again instead of the cached lines")
    parser.add_argument("--ocr-only", action="store_true", help="fill the cache and stop")
    parser.add_argument("--reread", action="store_true", help="also score receipts with the header read again")
    parser.add_argument("--show", default="", help="receipt fields whose misses to list on stderr, e.g. total,date")
    args = parser.parse_args(argv)
    receipts: list[list[str]] = []
    forms: list[list[str]] = []
    for name in args.sets.split(","):
        rows = _rows(args.eval_dir, name)
        started = time.perf_counter()
        read = ocr_lines(args.eval_dir, name, rows, args.fresh)
        lines = [lines_of(ls) for ls in read]
        again = None
        if args.reread and name.startswith("kie_"):
            again = [lines_of(ls) for ls in reread_lines(args.eval_dir, name, rows, read, args.fresh)]
        print(f"{name}: {len(rows)} images, lines in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if args.ocr_only:
            continue
        started = time.perf_counter()
        if name.startswith("kie_"):
            receipts += _receipts(name, rows, lines, args.show, again)
        elif name.startswith("kv_"):
            forms += _forms(name, rows, lines)
        print(f"{name}: rules in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    if receipts:
        print(table(["set", "system", "precision", "recall", "F1", *RECEIPT_FIELDS], receipts) + "\n")
    if forms:
        print(table(["set", "system", "predicted pairs", "found", "precision", "recall", "F1"], forms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
