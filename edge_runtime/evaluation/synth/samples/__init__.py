"""``python -m edge_runtime.evaluation.synth.samples [DIR]``: the sample files the README's examples name.

Set-up writes them into ``samples/`` (git-ignored) so that every example runs as written on a fresh clone:
a receipt, an upright page and a line crop taken from the rendered sets, a three-page two-column article as a
born-digital PDF and as a scanned one, and a short camera clip of a plate (a slow pan over a rendered plate
scene). Cheap (under a second) and deterministic, so set-up rewrites them.
A package of its own, not a module beside the renderers: the sets' stamp hashes those, and samples are no part
of the sets.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.evaluation import synth

__all__ = ["SAMPLES", "write"]

# name in samples/ -> (rendered set, image) it comes from; the clip is made from the plate scene.
_FROM_SETS = {
    "receipt.jpg": ("synth_receipts", "synth_receipts_0000.jpg"),
    "page.png": ("page_synth", "page_synth_0001.jpg"),  # an upright page (half of page_synth is turned)
    "line.png": ("rec_synth_lines", "rec_synth_lines_0000.png"),
}
# two-column documents of three pages: born-digital (its own text layer) and the same pages scanned (images only)
_PDFS = {"article.pdf": ("doc_synth", "d02.pdf"), "scan.pdf": ("doc_synth", "d02_scan.pdf")}
_CLIP_SCENE = ("plates_synth", "plates_synth_0000.jpg")
SAMPLES = (*_FROM_SETS, *_PDFS, "clip.mp4")
CLIP_FPS, CLIP_FRAMES, CLIP_SIZE, CLIP_PAN_PX = 5, 10, (640, 480), 3


def write(out: Path) -> list[Path]:
    """Write every name of SAMPLES into ``out`` (rendering the sets first if they are missing)."""
    root = synth.ensure()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (set_name, image) in _FROM_SETS.items():
        source, target = root / set_name / "images" / image, out / name
        if source.suffix == target.suffix:
            shutil.copyfile(source, target)
        elif not cv2.imwrite(str(target), _read(source)):
            raise OSError(f"cannot write {target}")
        written.append(target)
    for name, (set_name, pdf) in _PDFS.items():
        shutil.copyfile(root / set_name / "pdf" / pdf, out / name)
        written.append(out / name)
    written.append(_clip(_read(root / _CLIP_SCENE[0] / "images" / _CLIP_SCENE[1]), out / "clip.mp4"))
    return written


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise OSError(f"cannot read {path}; run: python -m edge_runtime.evaluation.synth --force")
    return image


def _clip(scene: np.ndarray, target: Path) -> Path:
    """A slow pan (CLIP_PAN_PX per frame) over the scene, like a camera that drifts while a car waits."""
    width, height = CLIP_SIZE
    margin = CLIP_PAN_PX * CLIP_FRAMES
    scene = cv2.resize(scene, (width + margin, height + margin * height // width), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), CLIP_FPS, CLIP_SIZE)
    try:
        for i in range(CLIP_FRAMES):
            writer.write(scene[:height, i * CLIP_PAN_PX : i * CLIP_PAN_PX + width])
    finally:
        writer.release()
    if not target.is_file() or target.stat().st_size == 0:
        raise OSError(f"OpenCV wrote no video to {target} (its mp4v encoder is missing)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime.evaluation.synth.samples",
        description="Write the sample files the README's examples name.",
    )
    parser.add_argument("out", nargs="?", type=Path, default=Path("samples"), help="folder (default: samples)")
    args = parser.parse_args(argv)
    try:
        paths = write(args.out)
    except Exception as exc:  # one line, never a traceback
        print(f"samples: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(" ".join(str(p) for p in paths))
    return 0
