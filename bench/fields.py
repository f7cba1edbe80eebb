"""Key fields and form pairs measured on the eval sets: receipts (kie_sroie, kie_sroie_train) and forms (kv_funsd).

OCR runs once per image and its lines are cached under bench/out/fields_cache/ (JSON), so tuning the rules re-runs
only the extraction; ``--fresh`` reads again. Figures use the definitions of ../shared/eval/README.md (field F1,
pair F1) and print as the Markdown tables of docs/fields.md.

    python -m bench.fields [--eval-dir DIR] [--sets kie_sroie,kie_sroie_train,kv_funsd] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.doc_tables import cell, table
from edge_runtime.fields.pairs import form_pairs
from edge_runtime.fields.receipt import receipt_fields
from edge_runtime.fields.scoring import RECEIPT_FIELDS, field_scores, pair_scores
from edge_runtime.fields.text import lines_of
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
        "words": [{"text": w.text, "confidence": w.confidence, "polygon": [list(p) for p in w.polygon]}
                  for w in line.words],
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fields", description=__doc__)
    parser.add_argument("--eval-dir", type=Path, default=Path(os.environ.get("OCR_EVAL_DIR", REPO.parent / "shared" / "eval")))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--fresh", action="store_true", help="read the images again instead of the cached lines")
    parser.add_argument("--ocr-only", action="store_true", help="fill the cache and stop")
    parser.add_argument("--show", default="", help="fields whose misses to list, e.g. total,date")
    args = parser.parse_args(argv)
    for name in args.sets.split(","):
        rows = _rows(args.eval_dir, name)
        t0 = time.perf_counter()
        lines = ocr_lines(args.eval_dir, name, rows, args.fresh)
        print(f"{name}: {len(rows)} images, lines in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if args.ocr_only:
            continue
        if name.startswith("kv_"):
            pred = [[(kv.key.text, kv.value.text) for kv in form_pairs(lines_of(ls))] for ls in lines]
            s = pair_scores(pred, [[(p["key"], p["value"]) for p in r["pairs"]] for r in rows])
            print(name, s.predicted, s.true, cell(s.precision), cell(s.recall), cell(s.f1))
        if name.startswith("kie_"):
            preds = [{f.name: f.text for f in receipt_fields(lines_of(ls))} for ls in lines]
            s = field_scores(preds, [r["fields"] for r in rows])
            print(name, cell(s.precision), cell(s.recall), cell(s.f1), *(cell(s.per_field[n]) for n in RECEIPT_FIELDS))
            if args.show:
                from edge_runtime.fields.scoring import normalised
                for r, p in zip(rows, preds):
                    for n in args.show.split(","):
                        a, b = normalised(n, p.get(n, "")), normalised(n, r["fields"].get(n, ""))
                        if a != b:
                            print(f"  {r['image']} {n}: {a!r} != {b!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
