"""Score an OCR system on labelled sets with the figures of the eval README (the library the gate, tests and
bench share).

- ``evaluate_set(recognize_fn, set_name, eval_dir, limit=None, keep_samples=False) -> dict``
  where ``recognize_fn(image_path: Path, skip_detection: bool) -> list[(text, polygon | None)]``.
  ``rec_`` sets are read with ``skip_detection=True`` (the whole crop is one line).
- ``headline(result) -> float`` and ``headline_figure(set_name) -> str``: the one figure a set is judged
  by (word F1 for detection and page sets, plate accuracy for plates, exact match for ``rec_`` sets).
- ``engine_recognizer(engine)``: the adapter for ``edge_runtime.pipeline.OcrEngine``.
- ``read_baselines(eval_dir) -> {set: {column: value}}``: the peer figures of ``BASELINES.md``.

Result keys: ``set``, ``kind``, ``images``, ``figure`` (headline figure name), ``value`` (its value),
``word_f1``, ``word_precision``, ``word_recall``, ``cer``, ``det_recall``, ``det_precision``,
``exact_match``, ``plate_accuracy`` (None where a figure does not apply to the set's kind),
``s_per_image`` (median seconds of one ``recognize_fn`` call, image loading included), and ``samples``
(per-image records) when ``keep_samples`` is set. A sample record holds ``image``, ``truth``, ``predicted``
(text in reading order), ``lines`` and that image's counts, so figures can be pooled across sets:
``words`` {matched, predicted, truth}, ``edits`` {edits, truth_chars}, ``cover`` {found, truth, precise,
predicted}, ``exact`` or ``plate`` (bool), each present only where it applies.

Figures are micro-averaged over the set (summed counts). Predicted lines more than half inside don't-care
regions are dropped before every figure (this reproduces BASELINES.md's RapidOCR
figures). CER is case-sensitive and uses the README's geometric reading order, so on pages turned by
90° or 180° it is high for any system; page sets are judged by word F1.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_runtime.evaluation import metrics
from edge_runtime.evaluation.datasets import Kind, Sample, kind_of, load_set

__all__ = [
    "RecognizeFn",
    "HEADLINE",
    "evaluate_set",
    "headline",
    "headline_figure",
    "engine_recognizer",
    "read_baselines",
    "rapidocr_baseline",
    "FIGURES",
]

Line = tuple[str, "metrics.PolygonLike | None"]
RecognizeFn = Callable[[Path, bool], list[Line]]

HEADLINE: dict[Kind, str] = {
    Kind.DETECTION: "word_f1",
    Kind.PAGE: "word_f1",
    Kind.PLATE: "plate_accuracy",
    Kind.CROP: "exact_match",
}
FIGURES = (
    "word_f1",
    "word_precision",
    "word_recall",
    "cer",
    "det_recall",
    "det_precision",
    "exact_match",
    "plate_accuracy",
)


def headline_figure(set_name: str) -> str:
    """Name of the figure a set is judged by (a key of ``evaluate_set``'s result)."""
    return HEADLINE[kind_of(set_name)]


def headline(result: dict[str, Any]) -> float:
    """The headline value of an ``evaluate_set`` result."""
    return float(result[headline_figure(result["set"])])


# ---- scoring --------------------------------------------------------------------------------------------
def _score_detection(sample: Sample, lines: list[Line], with_boxes: bool) -> dict[str, Any]:
    dont_care = [r.points for r in sample.dont_care]
    kept = metrics.drop_dont_care(lines, dont_care)
    truth_lines = [(r.text, r.points) for r in sample.cares]
    words = metrics.word_counts([t for t, _ in kept], [t for t, _ in truth_lines])
    edits = metrics.cer_counts(metrics.text_in_reading_order(kept), metrics.text_in_reading_order(truth_lines))
    out: dict[str, Any] = {"words": words, "edits": edits}
    if with_boxes:
        polygons = [p for _, p in lines if p is not None]
        out["cover"] = metrics.coverage_counts(polygons, [p for _, p in truth_lines], dont_care)
    return out


def _score(sample: Sample, lines: list[Line]) -> dict[str, Any]:
    if sample.kind is Kind.DETECTION:
        return _score_detection(sample, lines, with_boxes=True)
    if sample.kind is Kind.PAGE:
        words = metrics.word_counts([t for t, _ in lines], [sample.text])
        return {"words": words, "edits": metrics.cer_counts(metrics.text_in_reading_order(lines), sample.text)}
    if sample.kind is Kind.PLATE:
        order = metrics.reading_order([p for _, p in lines])
        found = metrics.plate_found([lines[i][0] for i in order], sample.text)
        cover = metrics.coverage_counts([p for _, p in lines if p is not None], [r.points for r in sample.cares])
        return {"plate": found, "cover": cover}
    predicted = " ".join(t for t, _ in lines)
    return {"exact": metrics.exact_match(predicted, sample.text), "edits": metrics.cer_counts(predicted, sample.text)}


def evaluate_set(
    recognize_fn: RecognizeFn, set_name: str, eval_dir: Path | str, limit: int | None = None, keep_samples: bool = False
) -> dict[str, Any]:
    """Run ``recognize_fn`` on every image of a set and compute the README's figures (micro-averaged)."""
    kind = kind_of(set_name)
    skip = kind is Kind.CROP
    words, edits, cover = metrics.WordCounts(), metrics.EditCounts(), metrics.CoverCounts()
    exact = plates = images = 0
    seconds: list[float] = []
    samples: list[dict[str, Any]] = []
    for sample in load_set(set_name, eval_dir, limit):
        started = time.perf_counter()
        lines = list(recognize_fn(sample.image, skip))
        seconds.append(time.perf_counter() - started)
        scored = _score(sample, lines)
        images += 1
        words += scored.get("words", metrics.WordCounts())
        edits += scored.get("edits", metrics.EditCounts())
        cover += scored.get("cover", metrics.CoverCounts())
        exact += int(scored.get("exact", False))
        plates += int(scored.get("plate", False))
        if keep_samples:
            samples.append(_sample_record(sample, lines, scored))
    result: dict[str, Any] = dict.fromkeys(FIGURES)
    result.update(set=set_name, kind=kind.value, images=images, figure=HEADLINE[kind])
    if kind in (Kind.DETECTION, Kind.PAGE):
        result.update(word_f1=words.f1, word_precision=words.precision, word_recall=words.recall)
    if kind is not Kind.PLATE:
        result["cer"] = edits.cer
    if kind in (Kind.DETECTION, Kind.PLATE):
        result["det_recall"] = cover.recall
    if kind is Kind.DETECTION:
        result["det_precision"] = cover.precision
    if kind is Kind.CROP:
        result["exact_match"] = metrics.ratio(exact, images)
    if kind is Kind.PLATE:
        result["plate_accuracy"] = metrics.ratio(plates, images)
    result["value"] = result[result["figure"]]
    result["s_per_image"] = statistics.median(seconds) if seconds else None
    if keep_samples:
        result["samples"] = samples
    return result


def _sample_record(sample: Sample, lines: list[Line], scored: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "image": sample.image.name,
        "truth": sample.text,
        "predicted": metrics.text_in_reading_order(lines),
        "lines": [{"text": t, "polygon": [list(map(float, pt)) for pt in p] if p else None} for t, p in lines],
    }
    for key, value in scored.items():
        record[key] = value if isinstance(value, bool) else value.__dict__
    return record


# ---- adapters and baselines -----------------------------------------------------------------------------
def engine_recognizer(engine: Any) -> RecognizeFn:
    """Adapter for ``OcrEngine``: lines with their polygons, image loading included in the call."""

    def recognize(image: Path, skip_detection: bool) -> list[Line]:
        result = engine.recognize(str(image), skip_detection=skip_detection)
        return [(line.text, line.polygon) for line in result.lines]

    return recognize


def _number(cell: str) -> float | str:
    try:
        return float(cell)
    except ValueError:
        return cell


def read_baselines(eval_dir: Path | str) -> dict[str, dict[str, float | str]]:
    """Rows of the peer table in ``BASELINES.md``: set -> {column header: value}.

    The RapidOCR headline is under the column whose header starts with ``RapidOCR`` and ends with ``FP32``.
    """
    rows: dict[str, dict[str, float | str]] = {}
    header: list[str] | None = None
    for raw in (Path(eval_dir) / "BASELINES.md").read_text(encoding="utf-8").splitlines():
        if not raw.strip().startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in raw.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
            rows[cells[0]] = dict(zip(header[1:], map(_number, cells[1:]), strict=True))
    return rows


def rapidocr_baseline(baselines: dict[str, dict[str, float | str]], set_name: str) -> float:
    """RapidOCR 3.10 FP32's headline value for a set, from ``read_baselines``."""
    row = baselines[set_name]
    for column, value in row.items():
        if column.startswith("RapidOCR") and column.endswith("FP32"):
            return float(value)
    raise KeyError(f"BASELINES.md has no RapidOCR FP32 column for {set_name}")
