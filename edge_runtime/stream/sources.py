"""Camera sources: OpenCV VideoCapture for files, RTSP/HTTP URLs and device indexes, read on a thread.

Live sources (devices, network URLs, and files with ``pace=True``) keep only the newest frame: the reader
drains the camera as fast as it delivers, so the consumer never sees a frame that went stale in a driver
buffer. Unpaced files hand over every frame (lossless). A network camera that drops is reopened with
exponential backoff; a file that ends ends the source.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_runtime.errors import InvalidImageError
from edge_runtime.stream.types import Frame

__all__ = ["VideoSource", "Backoff", "parse_source", "is_live", "encode_jpeg", "SourceError"]

log = logging.getLogger(__name__)
NETWORK_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


class SourceError(Exception):
    """The source could not be opened (and will not be retried)."""

    reason = "SOURCE_UNAVAILABLE"


def parse_source(spec: str | int | os.PathLike) -> str | int:
    """``"0"`` -> device index 0; anything else is a path or URL string."""
    if isinstance(spec, int):
        return spec
    spec = os.fspath(spec)
    return int(spec) if spec.strip().isdigit() else spec


def is_live(source: str | int) -> bool:
    return isinstance(source, int) or str(source).lower().startswith(NETWORK_SCHEMES)


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """BGR frame -> JPEG bytes, for clients that send compressed frames."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InvalidImageError("frame could not be JPEG-encoded", "IMAGE_UNDECODABLE")
    return buf.tobytes()


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: initial, doubled per failed try, capped at maximum."""

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(delay * self.factor, self.maximum)


Capture = Any  # cv2.VideoCapture or anything with isOpened/read/release/get


def _open_capture(source: str | int) -> Capture:
    """OpenCV's capture for a path or URL (``str``) or a device index (``int``)."""
    return cv2.VideoCapture(source)


class VideoSource:
    """Iterate ``Frame``s from a file, URL or device; the capture is read on a background thread.

    Args:
        source: path, URL or device index (``"0"`` is accepted).
        pace: deliver a file at its own frame rate, like a camera (newest-frame-wins). Live sources always are.
        encode: ``"raw"`` yields BGR arrays; ``"jpeg"`` yields JPEG bytes (a client sending to the server).
        reconnect: reopen a live source that drops or fails to open, with ``backoff``; ``max_reconnects``
            consecutive failures (None: no limit) end the source.
        open_capture: factory for the capture object (tests inject a fake camera).
    """

    def __init__(
        self,
        source: str | int | os.PathLike,
        *,
        pace: bool = False,
        encode: str = "raw",
        jpeg_quality: int = 85,
        reconnect: bool = True,
        backoff: Backoff = Backoff(),
        max_reconnects: int | None = None,
        max_frames: int | None = None,
        open_capture: Callable[[str | int], Capture] = _open_capture,
    ) -> None:
        if encode not in ("raw", "jpeg"):
            raise ValueError("encode must be 'raw' or 'jpeg'")
        self.source = parse_source(source)
        self.live = is_live(self.source)
        self.latest_only = self.live or pace
        self.pace = pace and not self.live
        self.encode, self.jpeg_quality = encode, jpeg_quality
        self.reconnect = reconnect and self.live
        self.backoff, self.max_reconnects, self.max_frames = backoff, max_reconnects, max_frames
        self._open = open_capture
        self._cond = threading.Condition()
        self._pending: list[Frame] = []
        self._done = False
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.frames_read = 0
        self.frames_overwritten = 0  # newest-frame-wins: frames the consumer never took
        self.reconnects = 0
        self.fps = 0.0

    # ---- consumer side ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        self.start()
        while True:
            with self._cond:
                while not self._pending and not self._done:
                    self._cond.wait()
                if self._pending:
                    frame = self._pending.pop(0)
                    self._cond.notify_all()
                else:
                    break
            yield frame
        if self._error is not None:
            raise self._error

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ocr-video-source", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop reading and release the capture; a consumer waiting in ``__iter__`` ends."""
        self._stop.set()
        with self._cond:
            self._done = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reader thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._read_all()
        except BaseException as exc:  # handed to the consumer
            self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _read_all(self) -> None:
        delays = self.backoff.delays()
        failures = 0
        sequence = 0
        while not self._stop.is_set():
            capture = self._open(self.source)
            try:
                if not capture.isOpened():
                    if not self.reconnect:
                        raise SourceError(f"cannot open video source {self.source!r}")
                    failures += 1
                else:
                    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
                    self.fps = fps if 0 < fps < 1000 else 30.0
                    if sequence and self.live:
                        self.reconnects += 1
                        log.info("video source %s reconnected", self.source)
                    got, sequence = self._read_capture(capture, sequence)
                    if got:
                        failures, delays = 0, self.backoff.delays()
                    else:
                        failures += 1
                    if not self.reconnect:
                        return  # a file ended
            finally:
                capture.release()
            if self.max_frames is not None and sequence >= self.max_frames:
                return
            if self.max_reconnects is not None and failures > self.max_reconnects:
                raise SourceError(f"video source {self.source!r} lost after {failures} attempts")
            delay = next(delays)
            log.warning("video source %s dropped; reconnecting in %.1f s", self.source, delay)
            self._stop.wait(delay)

    def _read_capture(self, capture: Capture, sequence: int) -> tuple[bool, int]:
        """Read until the capture fails or we stop; returns (read any frame, next sequence)."""
        got = False
        started, first = time.monotonic(), sequence
        while not self._stop.is_set():
            if self.max_frames is not None and sequence >= self.max_frames:
                break
            ok, image = capture.read()
            if not ok or image is None:
                break
            got = True
            if self.pace:  # emulate a camera: frame n is due n/fps after the first
                due = started + (sequence - first) / self.fps
                self._stop.wait(max(0.0, due - time.monotonic()))
            payload: np.ndarray | bytes = encode_jpeg(image, self.jpeg_quality) if self.encode == "jpeg" else image
            self._hand_over(Frame(payload, sequence, time.time()))
            self.frames_read += 1
            sequence += 1
        return got, sequence

    def _hand_over(self, frame: Frame) -> None:
        with self._cond:
            if self.latest_only:
                self.frames_overwritten += len(self._pending)
                self._pending[:] = [frame]
            else:
                while self._pending and not self._stop.is_set():
                    self._cond.wait(0.1)
                if self._stop.is_set():
                    return
                self._pending.append(frame)
            self._cond.notify_all()
