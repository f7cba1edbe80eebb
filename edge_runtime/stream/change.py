"""Frame change detection that ignores camera shake and exposure drift: the thumbnail of a frame is aligned
with the last processed one (sub-pixel global shift, linear gain/offset) before it is compared cell by cell."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Change", "ChangeDetector", "thumbnail", "region_thumbnail", "Box"]

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels, x1/y1 exclusive


@dataclass(frozen=True)
class Change:
    """How a frame differs from the reference (the last processed frame), after compensating global motion and
    exposure. ``shift`` and ``regions`` are in the frame's pixels."""

    changed: bool  # some cell moved past the threshold, new content entered at an edge, or there is no reference
    cut: bool  # so many cells changed at once that this is another scene
    fraction: float  # share of the compared cells that changed
    peak: float  # largest cell mean |diff| after compensation, gray levels
    shift: tuple[float, float] = (0.0, 0.0)  # (dx, dy): the reference's content is found moved by this much here
    regions: tuple[Box, ...] = ()  # where it changed (cells, and an edge strip the camera moved onto)
    gain: float = 1.0  # this frame ~ gain * reference + offset (exposure, white balance drift)
    offset: float = 0.0
    exposure: float = 0.0  # mean gray levels the exposure moved since the reference (a large jump is a cut)


def thumbnail(image: np.ndarray, width: int) -> np.ndarray:
    """BGR frame -> float32 gray thumbnail ``width`` wide.

    Gaussian pyramid steps, then area averaging, then a light blur: a proper low-pass before each
    decimation makes the thumbnail of a frame shifted by a pixel the shifted thumbnail (no aliasing), so
    sub-pixel alignment works on it; averaging also tames sensor noise.
    """
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    while gray.shape[1] >= 2 * width and min(gray.shape[:2]) >= 4:
        gray = cv2.pyrDown(gray)
    small = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small.astype(np.float32), (3, 3), 0)


def region_thumbnail(gray: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The frame's pixels under a line's box -> 16x64 float32, to tell whether the line's content changed.

    Cut along the box the line was read in (moved with the camera), so a detector box that wobbles by a pixel
    or two does not look like new content. Sub-pixel placement keeps camera shake from looking like a change.
    """
    pts = np.asarray(quad, np.float32).reshape(4, 2)
    x0, y0 = (float(v) for v in pts.min(axis=0))
    x1, y1 = (float(v) for v in pts.max(axis=0))
    h, w = gray.shape[:2]
    ix0, iy0 = max(0, math.floor(x0) - 1), max(0, math.floor(y0) - 1)
    ix1, iy1 = min(w, math.ceil(x1) + 1), min(h, math.ceil(y1) + 1)
    if x1 - x0 < 1 or y1 - y0 < 1 or ix1 <= ix0 or iy1 <= iy0:
        return np.zeros((16, 64), np.float32)
    window: np.ndarray = gray[iy0:iy1, ix0:ix1].astype(np.float32)
    sx, sy = (x1 - x0) / 64.0, (y1 - y0) / 16.0
    f = max(1.0, min(sx, sy) / 2)  # area-average first, so a long line does not alias
    if f > 1.0:
        window = cv2.resize(window, None, fx=1 / f, fy=1 / f, interpolation=cv2.INTER_AREA)
    matrix = np.array([[f / sx, 0, (ix0 - x0) / sx], [0, f / sy, (iy0 - y0) / sy]], np.float32)
    return cv2.warpAffine(window, matrix, (64, 16), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class ChangeDetector:
    """Tells whether, and where, a frame differs from the last one that was processed.

    Comparing against the last *processed* frame (not the previous one) means slow drift adds up until it
    is noticed. Before comparing, the reference thumbnail is moved by the global shift that phase
    correlation finds (sub-pixel) and its gray levels are fitted to the frame's (gain and offset, robust to
    the changed part), so shake, a slow pan and exposure drift are not changes; a changed word still moves
    its cell by tens of gray levels. Cell means, not single pixels, so noise averages out.
    """

    def __init__(
        self,
        width: int = 320,
        cell: int = 4,
        threshold: float = 5.0,
        cut_fraction: float = 0.5,
        max_shift: float = 0.03,
        edge_strip: float = 0.02,
        edge_tolerance: float = 0.1,
        cut_exposure: float = 40.0,
        cut_gain: float = 2.0,
    ) -> None:
        self.width, self.cell, self.threshold, self.cut_fraction = width, cell, threshold, cut_fraction
        self.max_shift = max_shift  # a larger shift (share of the frame width) is not camera motion
        self.edge_strip = edge_strip  # new view at an edge this wide (share of the width) counts as a change
        self.edge_tolerance = edge_tolerance  # thumbnail pixels of misalignment an edge may show unnoticed
        self.cut_exposure = cut_exposure  # a sudden exposure change of this many gray levels is another scene,
        self.cut_gain = cut_gain  # ... and so is a gain of more than this (or less than its inverse)
        self._reference: np.ndarray | None = None
        self._window: np.ndarray | None = None

    def reset(self) -> None:
        self._reference = None

    @property
    def has_reference(self) -> bool:
        return self._reference is not None

    def compare(self, image: np.ndarray) -> tuple[Change, np.ndarray]:
        """Change of ``image`` against the reference, and its thumbnail (pass it to ``accept`` if processed)."""
        thumb = thumbnail(image, self.width)
        ref = self._reference
        h, w = thumb.shape
        scale = image.shape[1] / w
        whole: Box = (0, 0, image.shape[1], image.shape[0])
        if ref is None or ref.shape != thumb.shape:  # new size mid-stream: another scene
            return Change(True, ref is not None, 1.0, 255.0, regions=(whole,)), thumb
        dx, dy = self._align(ref, thumb) if self.max_shift > 0 else (0.0, 0.0)
        level = self.threshold if self.threshold > 0 else 5.0  # <= 0 processes every frame; cuts still told
        moved = self._difference(ref, thumb, dx, dy)
        if abs(dx) + abs(dy) > 0.05:
            # a large moving thing (a scrolling ticker) can win the alignment over a still camera: the
            # camera moved only if that explains clearly more cells than standing still (cells changed
            # either way, a person walking past, do not count)
            still = self._difference(ref, thumb, 0.0, 0.0)
            if moved is None or (still is not None and _still_wins(moved[0] > level, still[0] > level)):
                moved, dx, dy = still, 0.0, 0.0
        if moved is None:  # hardly any overlap left: another view
            return Change(True, True, 1.0, 255.0, (dx * scale, dy * scale), (whole,)), thumb
        cells, cover, gain, offset, exposure = moved
        c = self.cell
        peak = float(cells.max())
        hot = cells > level
        fraction = float(hot.sum() / max(1, (cover > 0.2).sum()))
        cut = (
            fraction >= self.cut_fraction
            or exposure > self.cut_exposure
            or not 1 / self.cut_gain <= gain <= self.cut_gain
        )
        regions = [] if cut else _cell_boxes(hot, c, scale, image.shape[1], image.shape[0])
        regions += self._strips((dx * scale, dy * scale), image.shape[1], image.shape[0])
        if self.max_shift > 0 and max(abs(dx), abs(dy)) > self.max_shift * w:  # moved further than followed
            cut = True
        changed = self.threshold <= 0 or bool(hot.any()) or bool(regions)
        if cut:
            regions = [whole]
        return Change(
            changed, cut, fraction, peak, (dx * scale, dy * scale), tuple(regions), gain, offset, exposure
        ), thumb

    def accept(self, thumb: np.ndarray) -> None:
        """Make this thumbnail the reference: its frame was processed."""
        self._reference = thumb

    def _difference(
        self, ref: np.ndarray, thumb: np.ndarray, dx: float, dy: float
    ) -> tuple[np.ndarray, np.ndarray, float, float, float] | None:
        """Mean |frame - reference| per cell once the reference is moved by (dx, dy) and its gray levels
        mapped onto the frame's; with the share of each cell compared, gain, offset and the exposure change.
        None when the two hardly overlap."""
        h, w = thumb.shape
        valid = _covered(dx, dy, h, w)
        if valid.sum() < 0.25 * h * w:
            return None
        # both moved half way: interpolation smooths them alike, so its smoothing is not a difference
        old = _warp(ref, _translation(dx / 2, dy / 2)) if dx or dy else ref
        new = _warp(thumb, _translation(-dx / 2, -dy / 2)) if dx or dy else thumb
        # gray levels of the reference mapped onto the frame's: exposure and gain, and levels the sensor
        # clipped (white or black in the reference) may have been anything beyond
        gain, offset = _fit_exposure(old, new, valid)
        # the camera's own tone mapping bends the line (highlights mixed with clipped pixels, gamma): the
        # median frame level of each reference level may bend it by up to ``_BEND`` gray levels, not more,
        # so a moving object that fills some level cannot redefine it
        line = gain * _LEVELS + offset
        curve = np.clip(_tone_curve(old, new, valid), line - _BEND, line + _BEND)
        predicted = np.clip(np.interp(old, _LEVELS, curve), 0.0, 255.0).astype(np.float32)
        exposure = float(np.abs(predicted - old)[valid].mean())  # gray levels the exposure moved, on average
        low = np.where(old <= _DARK, 0.0, predicted)
        high = np.where(old >= _BRIGHT, 255.0, predicted)
        # what a leftover misalignment of ``edge_tolerance`` pixels would explain at an edge is not a change
        edge = np.abs(cv2.Sobel(old, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)) + np.abs(
            cv2.Sobel(old, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
        )
        slack = self.edge_tolerance * abs(gain) * edge
        diff = np.maximum(np.maximum(low - new, new - high) - slack, 0.0).astype(np.float32)
        diff[~valid] = 0.0
        rows, cols = max(1, h // self.cell), max(1, w // self.cell)
        # cells cover the thumbnail; the last row/column absorb the remainder; border cells are diluted by
        # the pixels left out, which errs towards "unchanged" where the comparison knows least
        cells = cv2.resize(diff, (cols, rows), interpolation=cv2.INTER_AREA)
        cover = cv2.resize(valid.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
        cells = np.where(cover > 0.2, cells / np.maximum(cover, 1e-6), 0.0)
        return cells, cover, gain, offset, exposure

    # ---- internals ----------------------------------------------------------------------------------
    def _align(self, ref: np.ndarray, thumb: np.ndarray) -> tuple[float, float]:
        """Global shift (thumbnail pixels) of ``thumb`` against ``ref``: phase correlation finds it to about a
        pixel, a few Gauss-Newton steps on shift, gain and offset together (the worst-fitting pixels left out,
        so a changed region does not pull it) make it sub-pixel."""
        h, w = thumb.shape
        if self._window is None or self._window.shape != thumb.shape:
            self._window = cv2.createHanningWindow((w, h), cv2.CV_32F)
        # zero-mean, unit-contrast inputs: the estimate does not depend on the exposure
        a = (ref - ref.mean()) / (ref.std() + 1e-3)
        b = (thumb - thumb.mean()) / (thumb.std() + 1e-3)
        (dx, dy), response = cv2.phaseCorrelate(a, b, self._window)
        if not (np.isfinite(dx) and np.isfinite(dy)) or max(abs(dx), abs(dy)) > self.max_shift * w or response < 0.03:
            dx = dy = 0.0  # no clear global motion: compare as is
        gain, offset = 1.0, float(thumb.mean() - ref.mean())
        gx = cv2.Sobel(ref, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
        gy = cv2.Sobel(ref, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
        target = thumb.ravel()
        for step in range(4):
            matrix = _translation(dx, dy)
            valid = _covered(dx, dy, h, w).ravel()
            if valid.sum() < 0.25 * h * w:
                break
            aligned = _warp(ref, matrix).ravel()
            residual = np.abs(target - (gain * aligned + offset))
            # the changed part of the frame and clipped highlights must not bend the fit
            keep = valid & (residual <= max(2.0, 3.0 * float(residual[valid].mean()))) if step else valid
            # thumb(x) ~ gain * ref(x - d) + offset;  ref(x - d - e) ~ aligned - gx(x - d) * ex - gy(x - d) * ey
            design = np.stack(
                [
                    aligned[keep],
                    np.ones(int(keep.sum()), np.float32),
                    -_warp(gx, matrix).ravel()[keep],
                    -_warp(gy, matrix).ravel()[keep],
                ],
                axis=1,
            )
            normal = design.T.astype(np.float64) @ design
            if np.linalg.cond(normal) > 1e10:  # a flat frame: nothing to align on
                break
            new_gain, new_offset, px, py = np.linalg.solve(normal, design.T.astype(np.float64) @ target[keep])
            if not 0.3 <= new_gain <= 3.0:
                break
            ex, ey = px / new_gain, py / new_gain
            if abs(ex) > 2 or abs(ey) > 2:  # the linear model does not hold that far: keep the coarse shift
                break
            gain, offset, dx, dy = float(new_gain), float(new_offset), dx + ex, dy + ey
            if step and abs(ex) < 0.01 and abs(ey) < 0.01:
                break
        return float(dx), float(dy)

    def _strips(self, shift: tuple[float, float], width: int, height: int) -> list[Box]:
        """Edge strips the camera moved onto since the reference, once they are ``edge_strip`` wide."""
        dx, dy = shift
        out: list[Box] = []
        strip = self.edge_strip * width
        if strip <= 0:
            return out
        if dx >= strip:
            out.append((0, 0, math.ceil(dx), height))
        elif -dx >= strip:
            out.append((width - math.ceil(-dx), 0, width, height))
        if dy >= strip:
            out.append((0, 0, width, math.ceil(dy)))
        elif -dy >= strip:
            out.append((0, height - math.ceil(-dy), width, height))
        return out


_DARK, _BRIGHT = 16.0, 236.0  # reference levels that may hide sensor clipping
_LEVELS = np.arange(4.0, 256.0, 8.0)  # centres of the gray-level bins of the tone curve
_BEND = 30.0


def _fit_exposure(ref: np.ndarray, cur: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """Robust least squares ``cur ~ gain * ref + offset`` over the reference's unclipped levels.

    Pixel counts weigh it, so the background (most of a frame) decides it, not the brightest text; twice
    refitted without the pixels that fit worst (the changed part of the frame). A flat reference has no
    contrast to fit a gain on: then only the offset moves.
    """
    mask = valid & (ref > _DARK) & (ref < _BRIGHT)
    r, c = ref[mask].astype(np.float64), cur[mask].astype(np.float64)
    if r.size < 16:
        r, c = ref[valid].astype(np.float64), cur[valid].astype(np.float64)
    gain, offset = 1.0, float(np.median(c - r)) if c.size else 0.0
    for _ in range(3):
        residual = np.abs(c - (gain * r + offset))
        keep = residual <= max(3.0, 2.5 * float(residual.mean()))
        rk, ck = r[keep], c[keep]
        if rk.size < 16:
            break
        var = float(rk.var())
        if var > 4.0:
            gain = float(np.clip(((rk - rk.mean()) * (ck - ck.mean())).mean() / var, 0.3, 3.0))
        offset = float(ck.mean() - gain * rk.mean())
    return gain, offset


def _tone_curve(
    ref: np.ndarray, cur: np.ndarray, valid: np.ndarray, least: int = 12, slopes: tuple[float, float] = (0.3, 3.0)
) -> np.ndarray:
    """The frame's gray level for each reference level: the median over the pixels of that level.

    A gain and offset would do for exposure alone; this also follows clipped highlights, gamma and
    white-balance steps. Its slope is kept within ``slopes`` (walking out from the most common level), so
    it cannot map a whole different scene onto the reference, and a changed region cannot bend it as long
    as most pixels of a level did not change.
    """
    n = len(_LEVELS)
    bins = np.clip((ref[valid] * (1 / 8.0)).astype(np.int32), 0, n - 1)
    levels = np.clip(cur[valid] + 0.5, 0, 255).astype(np.int32)
    counts = np.bincount(bins * 256 + levels, minlength=n * 256).reshape(n, 256)
    totals = counts.sum(axis=1)
    ranks = np.cumsum(counts, axis=1)
    medians = np.argmax(ranks * 2 >= np.maximum(totals, 1)[:, None], axis=1).astype(np.float64)
    known = np.flatnonzero(totals >= least)
    if len(known) == 0:
        return _LEVELS.copy()
    anchor = int(np.argmax(totals))
    raw = np.interp(_LEVELS, _LEVELS[known], medians[known])
    lo, hi = known[0], known[-1]
    raw[:lo] = raw[lo] - (_LEVELS[lo] - _LEVELS[:lo])  # levels not in view: unit slope beyond the ends
    raw[hi + 1 :] = raw[hi] + (_LEVELS[hi + 1 :] - _LEVELS[hi])
    step_lo, step_hi = 8.0 * slopes[0], 8.0 * slopes[1]
    steps = np.clip(np.diff(raw), step_lo, step_hi)
    curve = np.empty(n)
    curve[anchor] = medians[anchor]
    curve[anchor + 1 :] = medians[anchor] + np.cumsum(steps[anchor:])
    curve[:anchor] = medians[anchor] - np.cumsum(steps[:anchor][::-1])[::-1]
    return curve


def _still_wins(moved: np.ndarray, still: np.ndarray) -> bool:
    return int((moved & ~still).sum()) > 0.5 * int((still & ~moved).sum())


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy]], np.float32)


def _warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    h, w = image.shape
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _covered(dx: float, dy: float, h: int, w: int) -> np.ndarray:
    """Thumbnail pixels both the reference and the frame cover once each is moved half of (dx, dy) towards
    the other, less one for interpolation."""
    mx0 = mx1 = math.ceil(abs(dx) / 2) + 1
    my0 = my1 = math.ceil(abs(dy) / 2) + 1
    valid = np.zeros((h, w), bool)
    valid[my0 : max(my0, h - my1), mx0 : max(mx0, w - mx1)] = True
    return valid


def _cell_boxes(hot: np.ndarray, cell: int, scale: float, width: int, height: int) -> list[Box]:
    """Bounding boxes (frame pixels) of the groups of changed cells, neighbours joined."""
    if not hot.any():
        return []
    grown = cv2.dilate(hot.astype(np.uint8), np.ones((3, 3), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    rows, cols = hot.shape
    out = []
    for x, y, w, h, _ in stats[1:count]:
        x0, y0 = int(x * cell * scale), int(y * cell * scale)
        # the last row/column absorb the thumbnail's remainder
        x1 = width if x + w >= cols else min(width, math.ceil((x + w) * cell * scale))
        y1 = height if y + h >= rows else min(height, math.ceil((y + h) * cell * scale))
        out.append((x0, y0, x1, y1))
    return out
