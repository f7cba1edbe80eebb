"""Our FP32 engine reads every dev set at least as well as RapidOCR 3.10 does (BASELINES.md, minus 0.5 points).

Real models, real published data, both backends; the bar is parsed from BASELINES.md so it moves with it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.evaluation import metrics
from edge_runtime.evaluation.accuracy import (
    evaluate_set,
    headline,
    headline_figure,
    rapidocr_baseline,
    read_baselines,
)
from tests.conftest import EVAL_DIR, get_engine, shared_recognizer

TOLERANCE = 0.005  # half a point: run-to-run and backend rounding noise, not a licence to regress


def _baseline_sets() -> list[str]:
    try:
        return [name for name in read_baselines(EVAL_DIR) if (EVAL_DIR / name / "labels.jsonl").is_file()]
    except FileNotFoundError:
        return ["<BASELINES.md missing>"]  # the eval_dir fixture then fails with the reason


def _misses(result: dict[str, Any], figure: str, count: int = 8) -> str:
    """A few wrong images, so a failure says what kind of error it is without a rerun."""
    wrong = []
    for s in result["samples"]:
        if figure in ("exact_match", "plate_accuracy"):
            if not s.get("exact", s.get("plate")):
                wrong.append(f"  {s['image']}: truth {s['truth']!r} read {s['predicted'][:80]!r}")
            continue
        truth = Counter(metrics.normalize_words(s["truth"]))
        read = Counter(metrics.normalize_words(s["predicted"]))  # before the don't-care drop
        if truth - read:
            wrong.append(
                f"  {s['image']}: missed {sorted((truth - read).elements())} "
                f"extra {sorted((read - truth).elements())[:8]}"
            )
    return "\n".join(wrong[:count])


@pytest.mark.parametrize("set_name", _baseline_sets())
@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_fp32_headline_is_no_lower_than_rapidocr(eval_dir: Path, backend: str, set_name: str) -> None:
    bar = rapidocr_baseline(read_baselines(eval_dir), set_name) - TOLERANCE
    engine = get_engine(backend=backend, precision="fp32")
    assert set(engine.precision.values()) == {"fp32"}
    result = evaluate_set(shared_recognizer(engine), set_name, eval_dir, keep_samples=True)
    figure = headline_figure(set_name)
    value = headline(result)
    assert value >= bar, (
        f"{set_name} on {backend} fp32: {figure} {value:.4f} < {bar:.4f} "
        f"(RapidOCR {bar + TOLERANCE:.4f} - {TOLERANCE}); first misses:\n{_misses(result, figure)}"
    )
