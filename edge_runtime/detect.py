"""DB text detection: resize + normalise, probability map -> rotated quadrilaterals (unclipped with pyclipper)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import pyclipper

from edge_runtime.geometry import order_clockwise, share_inside


@dataclass(frozen=True)
class DetParams:
    limit_side_len: int = 736
    limit_type: str = "min"
    max_side_len: int = 2000
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    thresh: float = 0.3
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    max_candidates: int = 1000
    use_dilation: bool = True
    min_box_side: float = 3.0
    small_text_height: float = 0.0  # px of detector input; lines found lower than this (median) get a second,
    # larger pass (``second_pass``); 0: one pass
    max_upscale: float = 1.3  # the second pass's input sides, times the first's (736 -> 960 on a 720p photo)


def target_size(height: int, width: int, p: DetParams) -> tuple[int, int]:
    """Network input size: scaled by the side-length rule, each side a multiple of 32."""
    if p.limit_type == "max":
        scale = min(1.0, p.limit_side_len / max(height, width))
    else:
        scale = max(1.0, p.limit_side_len / min(height, width))
    scale = min(scale, p.max_side_len / max(height, width))
    new_h = max(32, int(round(height * scale / 32)) * 32)
    new_w = max(32, int(round(width * scale / 32)) * 32)
    return new_h, new_w


def preprocess(image: np.ndarray, p: DetParams) -> np.ndarray:
    """BGR uint8 HxWx3 -> float32 1x3xH'xW' in the detector's normalisation."""
    height, width = image.shape[:2]
    new_h, new_w = target_size(height, width, p)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    scale = np.float32(1 / 255.0) / np.asarray(p.std, dtype=np.float32)
    shift = np.asarray(p.mean, dtype=np.float32) / np.asarray(p.std, dtype=np.float32)
    blob = resized.astype(np.float32) * scale - shift
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None])


def second_pass(found: list[tuple[np.ndarray, float]], src_h: int, src_w: int, p: DetParams) -> DetParams | None:
    """Parameters for a second detector pass at a larger input, or None when the first pass's text is tall enough.

    DB misses and misreads text only a few pixels tall in its input. Scene photos hold such text where documents
    (whose text the "min" rule already brings to a readable height) seldom do, so the scale follows the text
    found, not the image kind: when the median line of the first pass is lower than ``small_text_height``
    (detector-input pixels), the input sides grow by ``max_upscale`` (on icdar15_more the gain came from images
    with small text, and all of it from the full step, not from a partial one). ``merge_passes`` joins the two.
    """
    if p.small_text_height <= 0 or not found:
        return None
    first = target_size(src_h, src_w, p)
    scale = first[0] / src_h
    heights = [min(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[0] - q[1])) * scale for q, _ in found]
    if float(np.median(heights)) >= p.small_text_height:
        return None
    return _larger(src_h, src_w, p)


def _larger(src_h: int, src_w: int, p: DetParams) -> DetParams | None:
    """The second pass's parameters, or None where the cap leaves (about) the same input."""
    first = target_size(src_h, src_w, p)
    scale = first[0] / src_h
    side = min(src_h, src_w) if p.limit_type == "min" else max(src_h, src_w)
    larger = replace(p, limit_side_len=int(round(side * scale * p.max_upscale)), small_text_height=0.0)
    grown = target_size(src_h, src_w, larger)
    return larger if grown[0] * grown[1] >= 1.2 * first[0] * first[1] else None  # capped: the same input again


def merge_passes(
    first: list[tuple[np.ndarray, float]], second: list[tuple[np.ndarray, float]]
) -> list[tuple[np.ndarray, float]]:
    """One set of lines from both passes, region by region (the second pass's boxes are matched to the first
    pass's box they lie mostly inside).

    The second pass gains by what it sees better at its scale: lines the first pass missed (added) and lines it
    ran together (a first-pass box holding several second-pass boxes takes those). Where both passes find the
    same line, the larger box is kept: the larger input's boxes run ~4 % lower for the same small line, and one cut
    too short loses strokes (icdar15_toy: ``citi`` read ``cíti``, an arrow read ``A→``). A first-pass box the
    second pass finds no text in is dropped.
    """
    taken: set[int] = set()
    merged: list[tuple[np.ndarray, float]] = []
    for quad, score in first:
        inside = [j for j, (other, _) in enumerate(second) if j not in taken and share_inside(other, quad) >= 0.5]
        taken.update(inside)
        if len(inside) == 1:
            other = second[inside[0]]
            merged.append((quad, score) if cv2.contourArea(quad) >= cv2.contourArea(other[0]) else other)
        else:
            merged.extend(second[j] for j in inside)
    merged.extend(line for j, line in enumerate(second) if j not in taken)
    return merged


def largest_target(src_h: int, src_w: int, p: DetParams) -> tuple[int, int]:
    """The largest detector input an image of this size may get (the second pass's where it can run): what
    admission by memory charges, before the first pass has said whether the text is small."""
    larger = _larger(src_h, src_w, p) if p.small_text_height > 0 else None
    return target_size(src_h, src_w, larger if larger is not None else p)


def _box_score(prob: np.ndarray, contour: np.ndarray) -> float:
    """Mean probability inside the contour's polygon (DB "fast" mode uses the min-area box instead)."""
    h, w = prob.shape
    xs, ys = contour[:, 0], contour[:, 1]
    x0, x1 = int(np.clip(np.floor(xs.min()), 0, w - 1)), int(np.clip(np.ceil(xs.max()), 0, w - 1))
    y0, y1 = int(np.clip(np.floor(ys.min()), 0, h - 1)), int(np.clip(np.ceil(ys.max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = (contour - np.array([x0, y0], dtype=np.float32)).round().astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray | None:
    """Grow the shrunk kernel back to the text's extent: offset D = A * r / L (DB paper, eq. 11)."""
    area = cv2.contourArea(box)
    perimeter = cv2.arcLength(box, True)
    if perimeter <= 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath([tuple(map(float, pt)) for pt in box], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * ratio / perimeter)
    if len(grown) != 1:
        return None
    return np.asarray(grown[0], dtype=np.float32)


def postprocess(prob_map: np.ndarray, src_h: int, src_w: int, p: DetParams) -> list[tuple[np.ndarray, float]]:
    """Probability map (H'xW') -> [(4x2 quad in source pixels, score)]."""
    prob = prob_map.astype(np.float32)
    bitmap: np.ndarray = (prob > p.thresh).astype(np.uint8)
    if p.use_dilation:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    map_h, map_w = prob.shape
    sx, sy = src_w / map_w, src_h / map_h
    found: list[tuple[np.ndarray, float]] = []
    for contour in contours[: p.max_candidates]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < p.min_box_side:
            continue
        box = cv2.boxPoints(rect)
        score = _box_score(prob, box)
        if score < p.box_thresh:
            continue
        grown = _unclip(box, p.unclip_ratio)
        if grown is None:
            continue
        rect = cv2.minAreaRect(grown)
        if min(rect[1]) < p.min_box_side + 2:
            continue
        quad = order_clockwise(cv2.boxPoints(rect))
        quad[:, 0] = np.clip(np.round(quad[:, 0] * sx), 0, src_w)
        quad[:, 1] = np.clip(np.round(quad[:, 1] * sy), 0, src_h)
        if min(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[0] - quad[3])) < 2:
            continue
        found.append((quad, score))
    return found
