"""The OCR pipeline: decode -> detect -> classify angle -> recognize -> lines in reading order."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from edge_runtime import classify, detect, imageio, recognize
from edge_runtime.artifacts import resolve_stage
from edge_runtime.backends import SessionOptions, load, resolve_backend
from edge_runtime.config import EngineConfig
from edge_runtime.geometry import crop_quad, order_clockwise, reading_order
from edge_runtime.recognize import Reading
from edge_runtime.types import OcrResult, Provenance, TextLine, Word
from models import Bundle, load_bundle

__all__ = ["OcrEngine", "LineCrop"]

log = logging.getLogger(__name__)
ImageInput = np.ndarray | bytes | str | Path


@dataclass
class LineCrop:
    """A line cut out of an image, with the frame that maps crop positions back to image pixels.

    ``frame`` is (start-top, end-top, end-bottom, start-bottom) of the text as read, in image pixels.
    """

    image: np.ndarray
    quad: np.ndarray
    frame: np.ndarray
    flipped: bool = False
    doubtful: bool = False  # turned on its own classifier's word alone: worth reading the other way too

    def turn_180(self) -> None:
        self.image = np.ascontiguousarray(self.image[::-1, ::-1])
        self.frame = self.frame[[2, 3, 0, 1]]
        self.flipped = not self.flipped

    @property
    def direction(self) -> int:
        """Reading direction in the image, quantized to 0 / 90 / 180 / 270 degrees."""
        dx, dy = self.frame[1] - self.frame[0]
        return int(round(np.degrees(np.arctan2(dy, dx)) / 90.0)) % 4 * 90


def _frame_for(quad: np.ndarray, turned: bool) -> np.ndarray:
    tl, tr, br, bl = quad
    if turned:  # np.rot90 turns counter-clockwise: text runs down the quad, its top is the right edge
        return np.array([tr, br, bl, tl], dtype=np.float32)
    return np.array([tl, tr, br, bl], dtype=np.float32)


def _point_on(frame: np.ndarray, fraction: float) -> tuple[tuple[float, float], tuple[float, float]]:
    top = frame[0] + (frame[1] - frame[0]) * fraction
    bottom = frame[3] + (frame[2] - frame[3]) * fraction
    return (float(top[0]), float(top[1])), (float(bottom[0]), float(bottom[1]))


class OcrEngine:
    """Loads a bundle on one backend and runs the whole pipeline.

    Thread-safe: sessions may be shared by concurrent callers. Stage methods (``detect``, ``classify``,
    ``read``) are public so a serving layer can batch them across requests.
    """

    def __init__(self, config: EngineConfig | None = None, bundle: Bundle | None = None) -> None:
        self.config = config or EngineConfig()
        self.bundle = bundle or load_bundle(self.config.bundle)
        self.backend = resolve_backend(self.config.backend, self.config.device)
        options = SessionOptions(self.config.device, self.config.num_threads, self.config.ov_precision_hint)
        self.precision: dict[str, str] = {}
        self.precision_reasons: dict[str, str] = {}  # stage -> why that precision serves, in words
        self._sessions = {}
        for stage in ("det", "cls", "rec"):
            path, used, why = resolve_stage(self.bundle, self.backend, stage, self.config.precision)
            staged = dataclasses.replace(options, streams=self.config.num_rec_streams) if stage == "rec" else options
            if used == "bf16":  # the FP32 file, run in BF16 by OpenVINO's hint for this stage only
                staged = dataclasses.replace(staged, ov_precision_hint="bf16")
            self._sessions[stage] = load(self.backend, path, staged)
            self.precision[stage] = used
            self.precision_reasons[stage] = why
        p = self.bundle.params
        self.det_params = detect.DetParams(
            limit_side_len=self.config.det_limit_side_len, limit_type=self.config.det_limit_type,
            max_side_len=self.config.det_max_side_len, mean=p.det_mean, std=p.det_std, thresh=p.det_thresh,
            box_thresh=p.det_box_thresh, unclip_ratio=p.det_unclip_ratio, max_candidates=p.det_max_candidates,
            use_dilation=p.det_use_dilation,
        )
        self.rec_params = recognize.RecParams(height=p.rec_height, min_width=p.rec_min_width,
                                              max_width=self.config.rec_max_width)
        characters = self.bundle.characters + ((" ",) if p.rec_use_space_char else ())
        self.characters = characters
        self.provenance = Provenance(self.bundle.id, self.backend, self.config.device, dict(self.precision))
        self._warm = threading.Event()

    # ---- inputs -------------------------------------------------------------------------------------
    def load_image(self, image: ImageInput) -> np.ndarray:
        """Any accepted input -> validated BGR uint8, or InvalidImageError."""
        c = self.config
        if isinstance(image, np.ndarray):
            return imageio.validate_array(image, c.max_image_pixels, c.min_image_side)
        if isinstance(image, (bytes, bytearray, memoryview)):
            return imageio.decode_image(bytes(image), c.max_image_pixels, c.min_image_side)
        return imageio.load_image(image, c.max_image_pixels, c.min_image_side)

    # ---- stages -------------------------------------------------------------------------------------
    def detect(self, image: np.ndarray, params: detect.DetParams | None = None) -> list[np.ndarray]:
        """Quadrilaterals (4x2, clockwise from top-left) of text lines, in reading order.

        ``params`` replaces the engine's detector parameters for this call only (a stream detects crops of a
        frame at the whole frame's scale); the engine itself is not changed, so callers may differ per call.
        """
        params = params or self.det_params
        session = self._sessions["det"]
        blob = detect.preprocess(image, params)
        prob = session.run({session.inputs[0]: blob})[0]
        found = detect.postprocess(prob[0, 0], image.shape[0], image.shape[1], params)
        quads = [q for q, _ in found]
        return [quads[i] for i in reading_order(quads)]

    def crop(self, image: np.ndarray, quads: Sequence[np.ndarray]) -> list[LineCrop]:
        crops = []
        for quad in quads:
            pixels, turned = crop_quad(image, quad)
            crops.append(LineCrop(pixels, quad, _frame_for(quad, turned)))
        return crops

    def classify(self, crops: Sequence[LineCrop], batch_size: int = 16) -> np.ndarray:
        """N x 2 probabilities (0°, 180°) per crop. Fixed input size, so batching never changes the answer."""
        if not crops:
            return np.zeros((0, 2), np.float32)
        session = self._sessions["cls"]
        p = self.bundle.params
        parts = []
        for start in range(0, len(crops), batch_size):
            blob = np.stack([classify.preprocess(c.image, p.cls_height, p.cls_width)
                             for c in crops[start:start + batch_size]])
            parts.append(session.run({session.inputs[0]: blob})[0])
        return np.concatenate(parts)

    def whole_image_crop(self, image: np.ndarray) -> LineCrop:
        """The image as one text line (``skip_detection``)."""
        h, w = image.shape[:2]
        quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
        return LineCrop(image, quad, quad.copy())

    def orient(self, crops: list[LineCrop], probs: np.ndarray | None = None) -> list[LineCrop]:
        """Angle classification (unless disabled) + ``orient_page``: crops turned upright, in reading order."""
        if probs is None:
            probs = self.classify(crops) if self.config.use_angle_cls else np.zeros((len(crops), 2), np.float32)
        return orient_page(crops, probs, self.bundle.params.cls_thresh)

    def lines(self, image: np.ndarray) -> list[LineCrop]:
        """Detected lines cut out, turned upright and in reading order: what ``recognize`` reads."""
        return self.orient(self.crop(image, self.detect(image)))

    @staticmethod
    def doubtful(crops: Sequence[LineCrop]) -> list[int]:
        """Indices of crops turned on the angle classifier's word alone."""
        return [i for i, c in enumerate(crops) if c.doubtful]

    @staticmethod
    def settle(crops: Sequence[LineCrop], readings: list[Reading], indices: Sequence[int],
               second: Sequence[Reading]) -> list[Reading]:
        """Keep, for each doubtful crop, the more confident of its two readings (as turned, and turned back).

        The small angle classifier confidently turns some upright single words (``$100,000``, ``COFFEE``);
        the recognizer reading an upside-down line is far less sure of itself than reading it upright.
        ``second`` holds the readings of ``crops[i].image`` turned back by 180°, for i in ``indices``.
        """
        for i, other in zip(indices, second):
            if other.confidence > readings[i].confidence:
                crops[i].turn_180()
                readings[i] = other
            crops[i].doubtful = False
        return readings

    def read_lines(self, crops: Sequence[LineCrop]) -> list[Reading]:
        """Recognize oriented crops, with a second look at the doubtful ones."""
        readings = self.read([c.image for c in crops])
        again = self.doubtful(crops)
        if again:
            second = self.read([np.ascontiguousarray(crops[i].image[::-1, ::-1]) for i in again])
            self.settle(crops, readings, again, second)
        return readings

    def read(self, images: Sequence[np.ndarray], batch_size: int | None = None) -> list[Reading]:
        """Recognize line images; batches only crops of the same width bucket (see recognize.py).

        The batches are independent runs: the backend may run them side by side (``rec_streams``).
        """
        if not images:
            return []
        batch_size = batch_size or self.config.rec_batch_size
        prepared = [recognize.preprocess(img, self.rec_params) for img in images]
        order = sorted(range(len(images)), key=lambda i: (prepared[i][0].shape[2], i))
        groups: list[list[int]] = []
        for i in order:
            if groups and len(groups[-1]) < batch_size and \
                    prepared[groups[-1][0]][0].shape[2] == prepared[i][0].shape[2]:
                groups[-1].append(i)
            else:
                groups.append([i])
        batches = [[prepared[i] for i in group] for group in groups]
        readings: list[Reading | None] = [None] * len(images)
        for group, decoded in zip(groups, self.read_buckets(batches)):
            for i, reading in zip(group, decoded):
                readings[i] = reading
        return readings  # type: ignore[return-value]

    def read_bucket(self, prepared: Sequence[tuple[np.ndarray, int]]) -> list[Reading]:
        """One recognizer run over preprocessed crops that share a padded width."""
        return self.read_buckets([prepared])[0]

    def read_buckets(self, batches: Sequence[Sequence[tuple[np.ndarray, int]]]) -> list[list[Reading]]:
        """Recognizer runs, one per batch of preprocessed crops that share a padded width."""
        session = self._sessions["rec"]
        blobs = [np.stack([b for b, _ in prepared]) for prepared in batches]
        outputs = session.run_many([{session.inputs[0]: blob} for blob in blobs])
        return [[recognize.ctc_decode(out[0][k], self.characters, content / blob.shape[3])
                 for k, (_, content) in enumerate(prepared)]
                for prepared, blob, out in zip(batches, blobs, outputs)]

    # ---- whole pipeline -----------------------------------------------------------------------------
    def recognize(self, image: ImageInput, skip_detection: bool = False) -> OcrResult:
        return self.recognize_many([image], skip_detection)[0]

    def recognize_many(self, images: Iterable[ImageInput], skip_detection: bool = False) -> list[OcrResult]:
        """Several images, recognition batched across all of them. Raises on the first bad image."""
        started = time.perf_counter()
        decoded, per_image_ms = [], []
        for image in images:
            t0 = time.perf_counter()
            decoded.append(self.load_image(image))
            per_image_ms.append({"decode": (time.perf_counter() - t0) * 1000})
        all_crops: list[list[LineCrop]] = []
        for arr, ms in zip(decoded, per_image_ms):
            t0 = time.perf_counter()
            if skip_detection:
                all_crops.append([self.whole_image_crop(arr)])
            else:
                all_crops.append(self.crop(arr, self.detect(arr)))
            ms["det"] = (time.perf_counter() - t0) * 1000
        flat = [c for crops in all_crops for c in crops]
        t0 = time.perf_counter()
        probs = self.classify(flat) if self.config.use_angle_cls else np.zeros((len(flat), 2), np.float32)
        k = 0
        for crops in all_crops:  # classified together, oriented page by page
            crops[:] = self.orient(crops, probs[k:k + len(crops)])
            k += len(crops)
        flat = [c for crops in all_crops for c in crops]  # now in reading order
        cls_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        readings = self.read_lines(flat)
        rec_ms = (time.perf_counter() - t0) * 1000
        total_crops = max(len(flat), 1)
        results, k = [], 0
        for arr, crops, ms in zip(decoded, all_crops, per_image_ms):
            mine = readings[k:k + len(crops)]
            k += len(crops)
            share = len(crops) / total_crops  # batched stages: each image is charged its share
            ms["cls"] = cls_ms * share
            ms["rec"] = rec_ms * share
            ms["total"] = (time.perf_counter() - started) * 1000 if len(decoded) == 1 else sum(ms.values())
            results.append(self.assemble(arr.shape[0], arr.shape[1], crops, mine, ms))
        return results

    def assemble(self, height: int, width: int, crops: Sequence[LineCrop], readings: Sequence[Reading],
                 timings_ms: dict[str, float]) -> OcrResult:
        lines = []
        for crop, reading in zip(crops, readings):
            if not reading.text.strip() or reading.confidence < self.config.text_score:
                continue
            words = []
            for text, score, start, end in recognize.words_of(reading):
                (ax, ay), (dx, dy) = _point_on(crop.frame, start)
                (bx, by), (cx, cy) = _point_on(crop.frame, end)
                words.append(Word(text, score, ((ax, ay), (bx, by), (cx, cy), (dx, dy))))
            polygon = tuple((float(x), float(y)) for x, y in crop.frame)
            lines.append(TextLine(reading.text.strip(), reading.confidence, polygon, tuple(words),
                                  angle=crop.direction))
        return OcrResult(width, height, tuple(lines), {k: round(v, 3) for k, v in timings_ms.items()},
                         self.provenance)

    def warm_up(self) -> None:
        """One run through every stage so the first real request does not pay for graph compilation."""
        rng = np.random.default_rng(0)
        page = np.full((256, 512, 3), 255, np.uint8)
        page[100:140, 40:460] = rng.integers(0, 255, (40, 420, 3), dtype=np.uint8)
        self.recognize(page)
        self.read([page[100:140, 40:460]])
        self._warm.set()

    @property
    def ready(self) -> bool:
        return self._warm.is_set()


def orient_page(crops: list[LineCrop], probs: np.ndarray, thresh: float, decisive: float = 0.3,
                min_voters: int = 3) -> list[LineCrop]:
    """Turn upside-down lines and put the page's lines in its own reading order.

    The angle classifier judges each line alone and is unsure on some short or sparse ones; a page turned
    by 180° or 90° has all its lines the same way. So the lines vote (by length, with their 180° minus 0°
    probability); when at least ``min_voters`` lines vote and the vote is decisive, every line follows it
    unless the classifier is sure (``thresh``) of the opposite for that line. Fewer lines (a plate, a sign)
    are judged one by one. A line turned on its own classifier's word, or kept against a decisive page, is
    marked ``doubtful``: it is read both ways and the more confident reading wins (``OcrEngine.settle``).
    Reading order is then taken in the page's dominant frame.
    """
    if not crops:
        return crops
    lengths = np.array([np.linalg.norm(c.frame[1] - c.frame[0]) for c in crops], dtype=np.float64)
    margin = probs[:, 1] - probs[:, 0] if len(probs) else np.zeros(len(crops))
    vote = float((lengths * margin).sum() / max(lengths.sum(), 1e-6)) if len(crops) >= min_voters else 0.0
    for crop, (p0, p180) in zip(crops, probs):
        if vote > decisive:  # the page is upside down: a line stays only where the classifier is sure it is not
            if p0 < thresh:
                crop.turn_180()
            else:
                crop.doubtful = True  # sure of the opposite of the whole page: the second look decides
        elif p180 >= thresh:
            crop.turn_180()
            crop.doubtful = True
    weight = {d: 0.0 for d in (0, 90, 180, 270)}
    for crop, length in zip(crops, lengths):
        weight[crop.direction] += float(length)
    dominant = max(weight, key=weight.get)
    turn = np.radians(-dominant)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]], dtype=np.float32)
    upright = [order_clockwise(c.quad @ rotation.T) for c in crops]
    return [crops[i] for i in reading_order(upright)]
