"""The OCR pipeline: decode -> detect -> classify angle -> recognize -> lines in reading order, written once."""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from edge_runtime import classify, detect, imageio, recognize
from edge_runtime.artifacts import resolve_stage
from edge_runtime.backends import SessionOptions, load, resolve_backend
from edge_runtime.config import EngineConfig
from edge_runtime.errors import ConfigurationError
from edge_runtime.geometry import crop_quad, order_clockwise, reading_order
from edge_runtime.recognize import Reading
from edge_runtime.types import OcrResult, Provenance, RawImage, TextLine, Word
from models import Bundle, load_bundle

__all__ = ["OcrEngine", "LineCrop", "Run", "Steps", "drive"]

log = logging.getLogger(__name__)
ImageInput = np.ndarray | bytes | str | Path
Answer = TypeVar("Answer")


@dataclass(frozen=True, eq=False)
class Run:
    """One model run a sequence asks for: the ``stage`` model ("det", "cls", "rec") on ``blob`` (N x ...).

    The answer is the run's first output; its rows belong to the blob's rows, so rows of several runs of
    the same stage and shape may share one batch (identical answers: tested).
    """

    stage: str
    blob: np.ndarray


# A sequence: yields the runs it needs next (independent of each other), is sent their outputs in order.
Steps = Generator[list[Run], list[np.ndarray], Answer]


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
    inherited: bool = False  # not classified: follows the page's decided orientation (``decided_orientation``)

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

    Thread-safe: sessions may be shared by concurrent callers. The pipeline's sequence is written once, as
    generators of model runs (``page_steps`` and its parts); ``drive`` runs them here, a serving layer runs
    them as async stages with batching across requests.
    """

    CLS_BATCH = 16  # crops per angle-classifier run
    READ_WAVE_COLUMNS = 8192  # recognizer input columns asked for at once; more lines wait for the next wave
    REC_STEP_VALUES = 2  # what the recognizer answers per time step (its best class and that class's score)

    def __init__(self, config: EngineConfig | None = None, bundle: Bundle | None = None) -> None:
        self.config = config or EngineConfig()
        self.bundle = bundle or load_bundle(self.config.bundle)
        self.backend = resolve_backend(self.config.backend, self.config.device)
        options = SessionOptions(
            self.config.device,
            self.config.num_threads,
            self.config.ov_precision_hint,
            self.config.num_streams,
            self.config.ov_runtime_cache,
        )
        self.precision: dict[str, str] = {}
        self.precision_reasons: dict[str, str] = {}  # stage -> why that precision serves, in words
        self._sessions = {}
        for stage in ("det", "cls", "rec"):
            path, used, why = resolve_stage(self.bundle, self.backend, stage, self.config.precision)
            staged = options
            if used == "bf16":  # the FP32 file, run in BF16 by OpenVINO's hint for this stage only
                staged = dataclasses.replace(staged, ov_precision_hint="bf16")
            if stage == "rec":  # greedy CTC reads each step's best class: 2 numbers a step come back, not 18,710
                staged = dataclasses.replace(staged, best_class=True)
            if stage == "det":  # one graph, no per-shape cache: memory that pages of every size would pile up
                staged = dataclasses.replace(
                    staged, streams=self.config.det_num_streams, ov_runtime_cache=self.config.det_runtime_cache
                )
            self._sessions[stage] = load(self.backend, path, staged)
            self.precision[stage] = used
            self.precision_reasons[stage] = why
        self._set_params()
        characters = self.bundle.characters + ((" ",) if self.bundle.params.rec_use_space_char else ())
        self.characters = characters
        self.provenance = Provenance(self.bundle.id, self.backend, self.config.device, dict(self.precision))
        self._warm = threading.Event()

    SESSION_FIELDS = (
        "bundle",
        "backend",
        "device",
        "precision",
        "threads",
        "ov_precision_hint",
        "rec_streams",
        "det_streams",
        "ov_runtime_cache",
        "det_runtime_cache",
    )
    # EngineConfig fields that decide which model sessions load (``variant`` may change every other one)

    def _set_params(self) -> None:
        p = self.bundle.params
        self.det_params = detect.DetParams(
            limit_side_len=self.config.det_limit_side_len,
            limit_type=self.config.det_limit_type,
            max_side_len=self.config.det_max_side_len,
            small_text_height=self.config.det_small_text_height,
            mean=p.det_mean,
            std=p.det_std,
            thresh=p.det_thresh,
            box_thresh=p.det_box_thresh,
            unclip_ratio=p.det_unclip_ratio,
            max_candidates=p.det_max_candidates,
            use_dilation=p.det_use_dilation,
        )
        self.rec_params = recognize.RecParams(
            height=p.rec_height,
            min_width=self.config.rec_min_width or p.rec_min_width,
            width_step=self.config.rec_width_step,
            max_width=self.config.rec_max_width,
        )

    def variant(self, **changes: object) -> OcrEngine:
        """This engine with other pipeline knobs (``EngineConfig`` fields), sharing its loaded model sessions:
        A/B comparisons on the same sessions, without a second copy of the models in memory."""
        loaded = [name for name in changes if name in self.SESSION_FIELDS]
        if loaded:
            raise ConfigurationError(f"{', '.join(loaded)} decide which models load: build another OcrEngine")
        other = copy.copy(self)
        other.config = self.config.replace(**changes)
        other._set_params()
        return other

    # ---- inputs -------------------------------------------------------------------------------------
    def load_image(self, image: ImageInput | RawImage) -> np.ndarray:
        """Any accepted input -> validated BGR uint8, or InvalidImageError."""
        c = self.config
        if isinstance(image, RawImage):
            return imageio.decode_raw(
                image.data, image.width, image.height, image.pixel_format, c.max_image_pixels, c.min_image_side
            )
        if isinstance(image, np.ndarray):
            return imageio.validate_array(image, c.max_image_pixels, c.min_image_side)
        if isinstance(image, (bytes, bytearray, memoryview)):
            return imageio.decode_image(bytes(image), c.max_image_pixels, c.min_image_side)
        return imageio.load_image(image, c.max_image_pixels, c.min_image_side)

    # ---- pieces -------------------------------------------------------------------------------------
    def crop(self, image: np.ndarray, quads: Sequence[np.ndarray]) -> list[LineCrop]:
        crops = []
        for quad in quads:
            pixels, turned = crop_quad(image, quad)
            crops.append(LineCrop(pixels, quad, _frame_for(quad, turned)))
        return crops

    def whole_image_crop(self, image: np.ndarray) -> LineCrop:
        """The image as one text line (``skip_detection``)."""
        h, w = image.shape[:2]
        quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
        return LineCrop(image, quad, quad.copy())

    @staticmethod
    def doubtful(crops: Sequence[LineCrop]) -> list[int]:
        """Indices of crops turned on the angle classifier's word alone."""
        return [i for i, c in enumerate(crops) if c.doubtful]

    @staticmethod
    def unsure_inherited(crops: Sequence[LineCrop], readings: Sequence[Reading], sure: float) -> list[int]:
        """Indices of crops that inherited the page's orientation and read less confidently than ``sure``: the
        only ones whose orientation may still be wrong (an upside-down line reads as unsure garbage)."""
        return [i for i, c in enumerate(crops) if c.inherited and readings[i].confidence < sure]

    @staticmethod
    def settle(
        crops: Sequence[LineCrop], readings: list[Reading], indices: Sequence[int], second: Sequence[Reading]
    ) -> list[Reading]:
        """Keep, for each doubtful crop, the more confident of its two readings (as turned, and turned back).

        The small angle classifier confidently turns some upright single words (``$100,000``, ``COFFEE``);
        the recognizer reading an upside-down line is far less sure of itself than reading it upright.
        ``second`` holds the readings of ``crops[i].image`` turned back by 180°, for i in ``indices``.
        """
        for i, other in zip(indices, second, strict=True):
            if other.confidence > readings[i].confidence:
                crops[i].turn_180()
                readings[i] = other
            crops[i].doubtful = False
        return readings

    def padding_look(self, crops: Sequence[LineCrop], readings: Sequence[Reading]) -> list[int]:
        """Indices of crops padded narrower than ``rec_padding_look`` whose reading is below ``rec_sure``: short
        words, where the padding is much of the input and moves single letters (``GITY``/``CITY``); they are read
        again padded to that width (``keep_surer``). Long, sure document lines never qualify."""
        wide = self.config.rec_padding_look
        if not wide:
            return []
        p = self.rec_params
        return [
            i
            for i, (crop, reading) in enumerate(zip(crops, readings, strict=True))
            if reading.confidence < self.config.rec_sure
            and recognize.bucket_width(recognize.resized_width(crop.image.shape[0], crop.image.shape[1], p), p) < wide
        ]

    @staticmethod
    def keep_surer(readings: list[Reading], indices: Sequence[int], second: Sequence[Reading]) -> list[Reading]:
        """Keep, for each of ``indices``, the more confident of its reading and ``second``'s (the padding look)."""
        for i, other in zip(indices, second, strict=True):
            if other.confidence > readings[i].confidence:
                readings[i] = other
        return readings

    # ---- the sequence, written once ------------------------------------------------------------------
    # Generators that yield the model runs they need (``list[Run]``, independent of each other) and are sent
    # those runs' first outputs, in order; all the work between runs (decoding, resizing, DB post-processing,
    # crop warping, CTC decoding) happens inside them. ``drive`` answers them here, synchronously; the server
    # resumes them on its CPU pool and answers their runs from its model lanes and cross-call batchers.
    def page_steps(self, source: ImageInput | RawImage, skip_detection: bool = False) -> Steps[OcrResult]:
        """One image: decode -> detect -> crop -> classify -> orient -> read -> second look -> assemble.

        ``timings_ms`` are wall-clock phases as this image saw them (waits for the model included).
        """
        clock = time.perf_counter
        started = clock()
        image = self.load_image(source)
        t0 = clock()
        ms = {"decode": (t0 - started) * 1000}
        height, width = image.shape[:2]
        if skip_detection:
            crops = [self.whole_image_crop(image)]
        else:
            crops = self.crop(image, (yield from self.detect_steps(image)))
        del image  # free early: the crops are copies (or, skipping detection, the image itself)
        t1 = clock()
        ms["det"] = (t1 - t0) * 1000
        crops = yield from self.orient_steps(crops)
        t2 = clock()
        ms["cls"] = (t2 - t1) * 1000
        readings = yield from self.reading_steps(crops)
        ms["rec"] = (clock() - t2) * 1000
        ms["total"] = (clock() - started) * 1000
        return self.assemble(height, width, crops, readings, ms)

    def detect_steps(self, image: np.ndarray, params: detect.DetParams | None = None) -> Steps[list[np.ndarray]]:
        """Quadrilaterals (4x2, clockwise from top-left) of text lines, in reading order (see ``detect``)."""
        whole = params is None  # a caller's own params (a stream's regions at the frame's scale) keep one pass
        params = params or self.det_params
        (prob,) = yield [Run("det", detect.preprocess(image, params))]
        found = detect.postprocess(prob[0, 0], image.shape[0], image.shape[1], params)
        larger = detect.second_pass(found, image.shape[0], image.shape[1], params) if whole else None
        if larger is not None:  # small text: detected again at a larger input, the passes merged
            del prob  # only the larger map is held (what admission charges: detect.largest_target)
            (prob,) = yield [Run("det", detect.preprocess(image, larger))]
            found = detect.merge_passes(found, detect.postprocess(prob[0, 0], image.shape[0], image.shape[1], larger))
        del prob  # the probability map, before the crops are cut
        quads = [q for q, _ in found]
        return [quads[i] for i in reading_order(quads)]

    def orient_steps(self, crops: list[LineCrop]) -> Steps[list[LineCrop]]:
        """Angle classification (unless disabled) + ``orient_page``: the crops turned upright (in place), in
        reading order.

        With ``cls_decided_lines`` = N, the N longest lines are classified first; when they agree
        (``decided_orientation``), the other lines take that answer unclassified (``inherited``) and
        ``reading_steps`` classifies only those whose reading is unsure."""
        probs = np.zeros((len(crops), 2), np.float32)
        if self.config.use_angle_cls and crops:
            first = classify.first_judged(crops_lengths(crops), self.config.cls_decided_lines)
            probs[first] = yield from self.classify_steps([crops[i] for i in first])
            rest = np.setdiff1d(np.arange(len(crops)), first)
            decided = classify.decided_orientation(probs[first], self.bundle.params.cls_thresh)
            if len(rest) and decided is not None:
                probs[rest] = classify.certain(decided)
                for i in rest:
                    crops[i].inherited = True
            elif len(rest):
                probs[rest] = yield from self.classify_steps([crops[i] for i in rest])
        return orient_page(crops, probs, self.bundle.params.cls_thresh)

    def classify_steps(self, crops: Sequence[LineCrop]) -> Steps[np.ndarray]:
        """The angle classifier's (p 0°, p 180°) for each crop (N x 2)."""
        if not crops:
            return np.zeros((0, 2), np.float32)
        p, size = self.bundle.params, self.CLS_BATCH  # fixed input size: batching never changes an answer
        blobs = [
            np.stack([classify.preprocess(c.image, p.cls_height, p.cls_width) for c in crops[start : start + size]])
            for start in range(0, len(crops), size)
        ]
        return np.concatenate((yield [Run("cls", blob) for blob in blobs]))

    def reading_steps(self, crops: Sequence[LineCrop]) -> Steps[list[Reading]]:
        """Readings of oriented crops, with a second look at the doubtful ones (``settle``).

        A line that inherited the page's orientation and reads unsure (below ``rec_sure``) is classified now;
        where the classifier is sure it is upside down, it becomes doubtful and gets the second look too, so a
        page of mixed orientation reads as it does with every line classified."""
        readings = yield from self.read_steps([c.image for c in crops])
        unsure = self.unsure_inherited(crops, readings, self.config.rec_sure)
        if unsure:
            probs = yield from self.classify_steps([crops[i] for i in unsure])
            for i, (_, p180) in zip(unsure, probs, strict=True):
                crops[i].doubtful = bool(p180 >= self.bundle.params.cls_thresh)
        for c in crops:
            c.inherited = False
        again = self.doubtful(crops)
        if again:
            second = yield from self.read_steps([np.ascontiguousarray(crops[i].image[::-1, ::-1]) for i in again])
            self.settle(crops, readings, again, second)
        narrow = self.padding_look(crops, readings)
        if narrow:
            wider = dataclasses.replace(self.rec_params, min_width=self.config.rec_padding_look)
            second = yield from self.read_steps([crops[i].image for i in narrow], params=wider)
            self.keep_surer(readings, narrow, second)
        return readings

    def read_steps(
        self, images: Sequence[np.ndarray], batch_size: int | None = None, params: recognize.RecParams | None = None
    ) -> Steps[list[Reading]]:
        """Line images -> readings. A batch holds only crops of one width bucket (see recognize.py), so how the
        crops are batched never changes an answer; the batches may run side by side. ``params``: other input widths
        than the engine's (the padding look)."""
        if not images:
            return []
        batch_size = batch_size or self.config.rec_batch_size
        prepared = [recognize.preprocess(img, params or self.rec_params) for img in images]
        order = sorted(range(len(images)), key=lambda i: (prepared[i][0].shape[2], i))
        groups: list[list[int]] = []
        for i in order:
            if (
                groups
                and len(groups[-1]) < batch_size
                and prepared[groups[-1][0]][0].shape[2] == prepared[i][0].shape[2]
            ):
                groups[-1].append(i)
            else:
                groups.append([i])
        groups = [part for group in groups for part in _full_or_single(group, batch_size)]
        readings: list[Reading | None] = [None] * len(images)
        for wave in self._waves(groups, [prepared[group[0]][0].shape[2] for group in groups]):
            outputs = yield [Run("rec", np.stack([prepared[i][0] for i in group])) for group in wave]
            for group, out in zip(wave, outputs, strict=True):
                for k, i in enumerate(group):
                    readings[i] = recognize.ctc_decode_best(
                        out[k], self.characters, prepared[i][1] / prepared[i][0].shape[2]
                    )
            del outputs  # free early (2 floats a time step since the best-class output; 75 KB a step before)
        return readings  # type: ignore[return-value]

    @property
    def read_wave_columns(self) -> int:
        """The most recognizer input columns one wave asks for (what a page's recognizer outputs hold at once)."""
        widest = self.config.num_streams * self.config.rec_batch_size * self.rec_params.max_width
        return max(self.READ_WAVE_COLUMNS, widest)

    def _waves(self, groups: list[list[int]], widths: list[int]) -> list[list[list[int]]]:
        """Batches asked for together: at least one per model stream (they run side by side), then up to
        ``READ_WAVE_COLUMNS`` input columns, so a page's recognizer outputs are decoded and freed wave by wave."""
        waves: list[list[list[int]]] = []
        columns = 0
        for group, width in zip(groups, widths, strict=True):
            size = len(group) * width
            if waves and (len(waves[-1]) < self.config.num_streams or columns + size <= self.READ_WAVE_COLUMNS):
                waves[-1].append(group)
                columns += size
            else:
                waves.append([group])
                columns = size
        return waves

    # ---- answering the sequence's model runs -------------------------------------------------------
    def answer(self, runs: Sequence[Run]) -> list[np.ndarray]:
        """Run them here, in this thread; several runs of a stage go side by side on the model's streams."""
        outputs: list[np.ndarray | None] = [None] * len(runs)
        for stage in {run.stage for run in runs}:
            mine = [i for i, run in enumerate(runs) if run.stage == stage]
            session = self._sessions[stage]
            for i, out in zip(mine, session.run_many([{session.inputs[0]: runs[i].blob} for i in mine]), strict=True):
                outputs[i] = out[0]
        return outputs  # type: ignore[return-value]

    def submit(self, run: Run, spread: bool = False) -> Future[list[np.ndarray]]:
        """Start one run on the model's lanes and return at once (see ``backends.base.Lanes``)."""
        session = self._sessions[run.stage]
        return session.submit({session.inputs[0]: run.blob}, spread)

    def drive(self, steps: Steps[Answer]) -> Answer:
        """Run a sequence here, synchronously."""
        return drive(steps, self.answer)

    def drive_together(self, sequences: Sequence[Steps[Answer]]) -> list[Answer]:
        """Run several sequences in lock step, so that their runs of one stage and shape share model batches
        (the in-process form of the server's cross-call batching); answers equal those of ``drive``."""
        results: list[Answer | None] = [None] * len(sequences)
        asked: dict[int, list[Run]] = {}
        for k, steps in enumerate(sequences):
            _advance(steps, None, k, asked, results)
        while asked:
            flat = [(k, run) for k, runs in asked.items() for run in runs]
            outputs = self.answer(_merged(flat))
            split = _split(flat, outputs)
            for k in list(asked):
                del asked[k]
                _advance(sequences[k], split.get(k, []), k, asked, results)
        return results  # type: ignore[return-value]

    # ---- stages, synchronously (for callers that need one piece: bench, tests, streams) -----------------
    def detect(self, image: np.ndarray, params: detect.DetParams | None = None) -> list[np.ndarray]:
        """Quadrilaterals (4x2, clockwise from top-left) of text lines, in reading order.

        ``params`` replaces the engine's detector parameters for this call only (a stream detects crops of a
        frame at the whole frame's scale); the engine itself is not changed, so callers may differ per call.
        """
        return self.drive(self.detect_steps(image, params))

    def orient(self, crops: list[LineCrop]) -> list[LineCrop]:
        """Crops turned upright (in place) and in reading order."""
        return self.drive(self.orient_steps(crops))

    def lines(self, image: np.ndarray) -> list[LineCrop]:
        """Detected lines cut out, turned upright and in reading order: what ``recognize`` reads."""
        return self.orient(self.crop(image, self.detect(image)))

    def read_lines(self, crops: Sequence[LineCrop]) -> list[Reading]:
        """Recognize oriented crops, with a second look at the doubtful ones."""
        return self.drive(self.reading_steps(crops))

    def read(self, images: Sequence[np.ndarray], batch_size: int | None = None) -> list[Reading]:
        """Recognize line images (no second look)."""
        return self.drive(self.read_steps(images, batch_size))

    # ---- whole pipeline -----------------------------------------------------------------------------
    def recognize(self, image: ImageInput | RawImage, skip_detection: bool = False) -> OcrResult:
        return self.drive(self.page_steps(image, skip_detection))

    def recognize_many(self, images: Iterable[ImageInput], skip_detection: bool = False) -> list[OcrResult]:
        """Several images, their model runs batched together. Raises on the first bad image."""
        return self.drive_together([self.page_steps(image, skip_detection) for image in images])

    def assemble(
        self,
        height: int,
        width: int,
        crops: Sequence[LineCrop],
        readings: Sequence[Reading],
        timings_ms: dict[str, float],
    ) -> OcrResult:
        lines = []
        for crop, reading in zip(crops, readings, strict=True):
            if not reading.text.strip() or reading.confidence < self.config.text_score:
                continue
            words = []
            for text, score, start, end in recognize.words_of(reading):
                (ax, ay), (dx, dy) = _point_on(crop.frame, start)
                (bx, by), (cx, cy) = _point_on(crop.frame, end)
                words.append(Word(text, score, ((ax, ay), (bx, by), (cx, cy), (dx, dy))))
            polygon = tuple((float(x), float(y)) for x, y in crop.frame)
            lines.append(
                TextLine(reading.text.strip(), reading.confidence, polygon, tuple(words), angle=crop.direction)
            )
        return OcrResult(width, height, tuple(lines), {k: round(v, 3) for k, v in timings_ms.items()}, self.provenance)

    def warm_up(self) -> None:
        """Runs through every stage, on the wide lanes and on the streams, so the first real requests do not pay
        for graph compilation."""
        rng = np.random.default_rng(0)
        page = np.full((256, 512, 3), 255, np.uint8)
        page[100:140, 40:460] = rng.integers(0, 255, (40, 420, 3), dtype=np.uint8)
        self.recognize(page)
        drive(self.page_steps(page), lambda runs: self.answer([*runs, *runs])[: len(runs)])  # side by side
        self._warm.set()

    @property
    def ready(self) -> bool:
        return self._warm.is_set()


def drive(steps: Steps[Answer], answer: Callable[[list[Run]], list[np.ndarray]]) -> Answer:
    """Run a sequence synchronously: each list of runs it yields is answered by ``answer``."""
    try:
        runs = next(steps)
        while True:
            runs = steps.send(answer(runs))
    except StopIteration as done:
        return done.value


def _advance(
    steps: Steps[Answer], outputs: list[np.ndarray] | None, k: int, asked: dict[int, list[Run]], results: list
) -> None:
    try:
        asked[k] = next(steps) if outputs is None else steps.send(outputs)
    except StopIteration as done:
        results[k] = done.value


def _merged(flat: list[tuple[int, Run]]) -> list[Run]:
    """Runs of one stage and row shape stacked into one run each (first-seen order)."""
    groups: dict[tuple, list[np.ndarray]] = {}
    for _, run in flat:
        groups.setdefault((run.stage, run.blob.shape[1:]), []).append(run.blob)
    return [Run(stage, np.concatenate(blobs)) for (stage, _), blobs in groups.items()]


def _split(flat: list[tuple[int, Run]], outputs: list[np.ndarray]) -> dict[int, list[np.ndarray]]:
    """The merged runs' outputs handed back, row by row, to the sequences that asked."""
    keys = list(dict.fromkeys((run.stage, run.blob.shape[1:]) for _, run in flat))
    taken = {key: 0 for key in keys}
    split: dict[int, list[np.ndarray]] = {}
    for k, run in flat:
        key = (run.stage, run.blob.shape[1:])
        start = taken[key]
        taken[key] = start + len(run.blob)
        split.setdefault(k, []).append(outputs[keys.index(key)][start : start + len(run.blob)])
    return split


def crops_lengths(crops: Sequence[LineCrop]) -> np.ndarray:
    """Each line's length along its reading direction, in image pixels (its weight in the page's vote)."""
    return np.array([np.linalg.norm(c.frame[1] - c.frame[0]) for c in crops], dtype=np.float64)


def orient_page(
    crops: list[LineCrop], probs: np.ndarray, thresh: float, decisive: float = 0.3, min_voters: int = 3
) -> list[LineCrop]:
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
    lengths = crops_lengths(crops)
    margin = probs[:, 1] - probs[:, 0] if len(probs) else np.zeros(len(crops))
    vote = float((lengths * margin).sum() / max(lengths.sum(), 1e-6)) if len(crops) >= min_voters else 0.0
    for crop, (p0, p180) in zip(crops, probs, strict=False):  # no probabilities (no classifier): no votes
        if vote > decisive:  # the page is upside down: a line stays only where the classifier is sure it is not
            if p0 < thresh:
                crop.turn_180()
            else:
                crop.doubtful = True  # sure of the opposite of the whole page: the second look decides
        elif p180 >= thresh:
            crop.turn_180()
            crop.doubtful = True
    weight = {d: 0.0 for d in (0, 90, 180, 270)}
    for crop, length in zip(crops, lengths, strict=True):
        weight[crop.direction] += float(length)
    dominant = max(weight, key=lambda direction: weight[direction])
    turn = np.radians(-dominant)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]], dtype=np.float32)
    upright = [order_clockwise(c.quad @ rotation.T) for c in crops]
    return [crops[i] for i in reading_order(upright)]


def _full_or_single(group: list[int], batch_size: int) -> list[list[int]]:
    """A full batch stays whole; a smaller one runs line by line. The runtime keeps executors and buffers for
    every input shape it has seen, per stream (~2-5 MB each with OpenVINO on a CPU), and a recognizer shape is
    (lines, width bucket): with full batches and single lines only, a model sees 2 batch sizes per bucket instead
    of ``batch_size`` (docs/memory.md, "Third round"). Answers do not change (a batch holds one bucket, so its lines
    read as they do alone), and on a CPU a line costs about the same alone as in a batch."""
    if len(group) in (1, batch_size):
        return [group]
    return [[i] for i in group]
