"""Small generated videos for stream tests: text drawn with cv2.putText, written with cv2.VideoWriter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_DUPLEX
WHITE, YELLOW = (255, 255, 255), (0, 230, 255)


@dataclass
class Scene:
    """A generated clip and what a viewer would read in it."""

    name: str
    frames: list[np.ndarray]
    fps: float
    texts: set[str] = field(default_factory=set)  # each should APPEAR once and DISAPPEAR once


def _background(width: int, height: int, shade: int = 45) -> np.ndarray:
    img = np.full((height, width, 3), shade, np.uint8)
    img[:, :, 0] = np.clip(shade + 25, 0, 255)  # a slightly blue wall
    return img


def _put(img: np.ndarray, text: str, x: int, y: int, scale: float = 1.4, color=WHITE, thick: int = 2) -> None:
    cv2.putText(img, text, (x, y), FONT, scale, color, thick, cv2.LINE_AA)


def text_width(text: str, scale: float = 1.4, thick: int = 2) -> int:
    return cv2.getTextSize(text, FONT, scale, thick)[0][0]


def static_sign(n: int = 24, size=(640, 360)) -> Scene:
    w, h = size
    img = _background(w, h)
    cv2.rectangle(img, (60, 70), (580, 290), (30, 30, 30), -1)
    _put(img, "OPEN 24 HOURS", 110, 150, 1.5, YELLOW, 3)
    _put(img, "PHARMACY", 190, 240, 1.5, WHITE, 3)
    return Scene("static", [img.copy() for _ in range(n)], 10.0, {"OPEN 24 HOURS", "PHARMACY"})


def ticker(size=(640, 360), speed: int = 32, gap: int = 200) -> Scene:
    """A static title over a news ticker whose words scroll in from the right and out to the left."""
    w, h = size
    words = ["BREAKING NEWS", "MARKETS UP"]
    base = _background(w, h)
    _put(base, "CITY TV", 230, 90, 1.5, WHITE, 3)
    cv2.rectangle(base, (0, 250), (w, 320), (90, 20, 20), -1)
    starts, x = [], w + 10
    for word in words:
        starts.append(x)
        x += text_width(word, 1.2) + gap
    n = (x - gap + 10) // speed + 2
    frames = []
    for i in range(n):
        img = base.copy()
        for word, x0 in zip(words, starts):
            _put(img, word, x0 - i * speed, 298, 1.2, WHITE, 2)
        frames.append(img)
    return Scene("ticker", frames, 10.0, {"CITY TV", *words})


def appear_disappear(size=(640, 360)) -> Scene:
    """EXIT appears at 4 and goes at 16; GATE B12 appears at 10 and stays to the end (26)."""
    w, h = size
    frames = []
    for i in range(26):
        img = _background(w, h, 60)
        if 4 <= i < 16:
            _put(img, "EXIT", 80, 120, 1.8, (40, 220, 40), 3)
        if i >= 10:
            _put(img, "GATE B12", 300, 260, 1.6, WHITE, 3)
        frames.append(img)
    return Scene("appear", frames, 10.0, {"EXIT", "GATE B12"})


def noisy_jitter(n: int = 24, size=(640, 360), sigma: float = 6.0, shake: int = 2, seed: int = 7) -> Scene:
    """A sign seen by a cheap handheld camera: sensor noise and a few pixels of shake every frame."""
    w, h = size
    rng = np.random.default_rng(seed)
    pad = shake + 2
    canvas = _background(w + 2 * pad, h + 2 * pad, 50)
    _put(canvas, "PLATFORM 4", 120 + pad, 140 + pad, 1.6, WHITE, 3)
    _put(canvas, "Departures 10:45", 120 + pad, 240 + pad, 1.2, YELLOW, 2)
    frames = []
    for _ in range(n):
        dx, dy = rng.integers(-shake, shake + 1, 2)
        img = canvas[pad + dy:pad + dy + h, pad + dx:pad + dx + w].astype(np.float32)
        img += rng.normal(0, sigma, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return Scene("noisy", frames, 10.0, {"PLATFORM 4", "Departures 10:45"})


def scene_cut(size=(640, 360)) -> Scene:
    """A street sign, then a cut to a shop front whose text sits about where the sign's was."""
    w, h = size
    a = _background(w, h, 40)
    _put(a, "MAIN STREET", 140, 180, 1.6, WHITE, 3)
    b = np.full((h, w, 3), (170, 190, 200), np.uint8)
    _put(b, "COFFEE SHOP", 150, 185, 1.6, (20, 20, 20), 3)
    return Scene("cut", [a.copy() for _ in range(12)] + [b.copy() for _ in range(12)], 10.0,
                 {"MAIN STREET", "COFFEE SHOP"})


def price_change(size=(640, 360)) -> Scene:
    """A price board: one motion-blurred frame (misread as "DSE" / "1799": must not flip the text), then the
    price really changes (UPDATED)."""
    w, h = size

    def board(price: str) -> np.ndarray:
        img = _background(w, h, 35)
        _put(img, "DIESEL", 90, 130, 1.6, WHITE, 3)
        _put(img, price, 360, 130, 1.6, YELLOW, 3)
        return img

    before, after = board("1.799"), board("1.859")
    kernel = np.zeros((25, 25), np.float32)
    kernel[12, :] = 1 / 25  # the camera swung sideways during this exposure
    blurred = cv2.filter2D(before, -1, kernel)
    frames = [before.copy() for _ in range(8)] + [blurred] + [before.copy() for _ in range(5)]
    frames += [after.copy() for _ in range(10)]
    return Scene("price", frames, 10.0, {"DIESEL", "1.799"})


SCENES: dict[str, Callable[[], Scene]] = {
    "static": static_sign, "ticker": ticker, "appear": appear_disappear, "noisy": noisy_jitter, "cut": scene_cut,
    "price": price_change,
}


def write_video(scene: Scene, path: Path) -> Path:
    """MJPG in AVI: written and read by every OpenCV build, and it adds real compression noise."""
    h, w = scene.frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), scene.fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MJPG video"
    for frame in scene.frames:
        writer.write(frame)
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames
