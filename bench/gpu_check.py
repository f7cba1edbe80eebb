"""GPU path check: the engine on ONNX Runtime's CUDA and TensorRT execution providers (and OpenVINO GPU where it
exists) against the CPU FP32 engine, on the project's rendered document sets.

    python -m bench.gpu_check [--devices cuda,tensorrt] [--sets synth_receipts,page_synth] [--limit 24]

For every device it prints: whether it loaded (or why not), how many images read exactly the same text as the CPU
FP32 engine, word F1 of both against the labels, and pages/s at concurrency 1 and 8 (threads sharing one engine,
as the server's threads do). Run by ``scripts/gpu_check.sh`` on a machine with an NVIDIA GPU; exits 1 when a
device that loaded reads differently from the CPU on more than ``--max-diff`` of the images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge_runtime.config import EngineConfig
from edge_runtime.evaluation.datasets import load_set
from edge_runtime.evaluation.metrics import f1, word_counts
from edge_runtime.imageio import decode_image
from edge_runtime.pipeline import OcrEngine

__all__ = ["main"]

Pages = list[tuple[np.ndarray, str]]  # decoded image, its whole text


def _pages(data_dir: Path, sets: list[str], limit: int) -> Pages:
    pages = []
    for name in sets:
        for sample in load_set(name, data_dir, limit=limit):
            pages.append((decode_image(sample.image.read_bytes()), sample.text))
    return pages


def _texts(engine: OcrEngine, pages: Pages) -> list[str]:
    return [" ".join(line.text for line in engine.recognize(image).lines) for image, _ in pages]


def _word_f1(texts: list[str], pages: Pages) -> float:
    counts = word_counts(texts, [truth for _, truth in pages])
    return 100 * f1(counts.matched, counts.predicted, counts.truth)


def _pages_per_s(engine: OcrEngine, pages: Pages, concurrency: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda page: engine.recognize(page[0]), pages * 2))
    return 2 * len(pages) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.evaluation.synth import default_dir

    parser = argparse.ArgumentParser(
        prog="python -m bench.gpu_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", default="cuda,tensorrt", help="comma list of EngineConfig devices")
    parser.add_argument("--backend", default="onnxruntime", help="backend of the GPU devices")
    parser.add_argument("--sets", default="synth_receipts,page_synth")
    parser.add_argument("--data-dir", type=Path, default=None, help="labelled sets (default: the project's own)")
    parser.add_argument("--limit", type=int, default=24, help="images per set")
    parser.add_argument("--max-diff", type=float, default=0.05, help="share of images allowed to read differently")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    data_dir = args.data_dir or default_dir()
    pages = _pages(data_dir, [s for s in args.sets.split(",") if s], args.limit)
    base = EngineConfig(backend=args.backend, device="cpu", precision="fp32")
    cpu = OcrEngine(base)
    reference = _texts(cpu, pages)
    rows = [
        {
            "device": "cpu",
            "backend": args.backend,
            "loaded": True,
            "same_text": len(pages),
            "word_f1": _word_f1(reference, pages),
            "c1": _pages_per_s(cpu, pages, 1),
            "c8": _pages_per_s(cpu, pages, 8),
        }
    ]
    failed = False
    for device in [d for d in args.devices.split(",") if d]:
        row = {"device": device, "backend": args.backend}
        try:
            engine = OcrEngine(replace(base, device=device))
            engine.recognize(pages[0][0])  # first run: TensorRT builds its engines here
        except Exception as exc:  # report and go on: one missing provider should not hide the others
            rows.append({**row, "loaded": False, "why": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        texts = _texts(engine, pages)
        same = sum(a == b for a, b in zip(texts, reference, strict=True))
        row.update(
            loaded=True,
            same_text=same,
            word_f1=_word_f1(texts, pages),
            c1=_pages_per_s(engine, pages, 1),
            c8=_pages_per_s(engine, pages, 8),
        )
        failed |= (len(pages) - same) > args.max_diff * len(pages)
        rows.append(row)
    print(f"{len(pages)} images from {data_dir}")
    print(f"{'device':10} {'loaded':6} {'same text':>10} {'word F1':>8} {'pages/s c1':>11} {'c8':>7}")
    for row in rows:
        if not row["loaded"]:
            print(f"{row['device']:10} no     {row['why']}")
            continue
        print(
            f"{row['device']:10} yes    {row['same_text']:>4}/{len(pages):<5} {row['word_f1']:8.2f} "
            f"{row['c1']:11.2f} {row['c8']:7.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
