"""Reading order on the team's column pages (``doc_columns``: real prose laid out by a browser, then scanned)."""

from __future__ import annotations

import json
from pathlib import Path

from edge_runtime.document.layout import build_page
from edge_runtime.evaluation.metrics import reading_order_ned, text_in_reading_order
from tests.conftest import get_engine


def test_doc_columns_read_in_order(eval_dir: Path) -> None:
    """Defined in shared/eval/README.md (reading-order NED); lines top to bottom score 0.75-0.9 on these pages."""
    root = eval_dir / "doc_columns"
    rows = [json.loads(line) for line in (root / "labels.jsonl").read_text(encoding="utf-8").splitlines() if line]
    assert rows
    ours, top_down = [], []
    for row in rows:
        result = get_engine().recognize(root / row["image"])
        page = build_page(result.lines, result.width, result.height)
        truth = " ".join(block["text"] for block in row["blocks"])
        ours.append(reading_order_ned(" ".join(w.text for w in page.words()), truth))
        top_down.append(reading_order_ned(text_in_reading_order([(ln.text, ln.polygon) for ln in result.lines]), truth))
    multi = [k for k, row in enumerate(rows) if row["columns"] > 1]
    print(
        f"doc_columns reading-order NED, mean of {len(rows)} pages: ours {sum(ours) / len(ours):.4f}, "
        f"lines top to bottom {sum(top_down) / len(top_down):.4f}"
    )  # docs/documents.md quotes it
    assert max(ours) < 0.1, ours  # no page falls apart
    assert sum(ours[k] for k in multi) < 0.1 * sum(top_down[k] for k in multi), (ours, top_down)
