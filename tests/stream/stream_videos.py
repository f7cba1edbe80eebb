"""Small generated videos for stream tests: text drawn with cv2.putText, written with cv2.VideoWriter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
        for word, x0 in zip(words, starts, strict=True):
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
        img = canvas[pad + dy : pad + dy + h, pad + dx : pad + dx + w].astype(np.float32)
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
    return Scene(
        "cut", [a.copy() for _ in range(12)] + [b.copy() for _ in range(12)], 10.0, {"MAIN STREET", "COFFEE SHOP"}
    )


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


# ---- a camera with a real camera's faults, filming a wall ------------------------------------------------
@dataclass
class Shot:
    """How a simulated camera films a wall: per-frame functions of the frame index."""

    n: int
    size: tuple[int, int] = (640, 360)
    position: Callable[[int], tuple[float, float]] = lambda i: (0.0, 0.0)  # view's top-left on the wall
    exposure: Callable[[int], tuple[float, float]] = lambda i: (1.0, 0.0)  # gain, offset
    blur: Callable[[int], int] = lambda i: 0  # length of a horizontal motion-blur streak, pixels
    occluder: Callable[[int], tuple[int, int] | None] = lambda i: None  # x range of a dark pole in front
    overlay: Callable[[np.ndarray, int], None] | None = None  # draws moving things (a car) on the view
    noise: float = 4.0  # sensor noise, gray levels
    jpeg: int = 60  # JPEG quality the camera encodes each frame at (compression artefacts)
    seed: int = 0


def wall(width: int, height: int, seed: int = 3) -> np.ndarray:
    """A noisy painted wall: low-frequency blotches and fine grain, not a flat colour."""
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.float32)
    img[:] = (78, 64, 58)
    blotch = cv2.resize(
        rng.normal(0, 10, (height // 24 + 1, width // 24 + 1)).astype(np.float32),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    grain = cv2.GaussianBlur(rng.normal(0, 6, (height, width)).astype(np.float32), (0, 0), 1.2)
    img += (blotch + grain)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def sign(
    img: np.ndarray, text: str, x: int, y: int, scale: float = 1.3, plate=(25, 25, 25), color=WHITE, thick: int = 2
) -> None:
    """Text on a plate, (x, y) the text's baseline start."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, thick)
    cv2.rectangle(img, (x - 14, y - h - 14), (x + w + 14, y + base + 10), plate, -1)
    _put(img, text, x, y, scale, color, thick)


def film(world: np.ndarray, shot: Shot) -> list[np.ndarray]:
    rng = np.random.default_rng(shot.seed)
    w, h = shot.size
    frames = []
    for i in range(shot.n):
        x, y = shot.position(i)
        view = cv2.warpAffine(
            world, np.float32([[1, 0, -x], [0, 1, -y]]), (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        if shot.overlay is not None:
            shot.overlay(view, i)
        span = shot.occluder(i)
        if span is not None:
            x0, x1 = max(0, span[0]), min(w, span[1])
            if x1 > x0:
                view[:, x0:x1] = (30, 35, 40)
        streak = shot.blur(i)
        if streak > 1:
            kernel = np.zeros((streak, streak), np.float32)
            kernel[streak // 2, :] = 1.0 / streak
            view = cv2.filter2D(view, -1, kernel)
        gain, offset = shot.exposure(i)
        out = view.astype(np.float32) * gain + offset + rng.normal(0, shot.noise, (h, w, 1))
        out = np.clip(out, 0, 255).astype(np.uint8)
        if shot.jpeg:
            out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, shot.jpeg])[1], cv2.IMREAD_COLOR)
        frames.append(out)
    return frames


def _shake(seed: int, amplitude: float) -> Callable[[int], tuple[float, float]]:
    """Hand-held shake: sub-pixel to ``amplitude`` pixels, a new offset each frame."""
    offsets = np.random.default_rng(seed).uniform(-amplitude, amplitude, (4096, 2))
    return lambda i: (float(offsets[i, 0]), float(offsets[i, 1]))


MARGIN = 200  # wall beyond the view on each side, for shake and pans


def _board(size=(640, 360), width_extra: int = 0) -> tuple[np.ndarray, set[str]]:
    w, h = size
    world = wall(w + 2 * MARGIN + width_extra, h + 2 * MARGIN)
    sign(world, "PLATFORM 4", MARGIN + 110, MARGIN + 110, 1.4, color=YELLOW)
    sign(world, "EXIT 12", MARGIN + 360, MARGIN + 260, 1.3)
    return world, {"PLATFORM 4", "EXIT 12"}


def shaken(n: int = 40) -> Scene:
    """A static board filmed hand-held: +-2.5 px shake every frame (sub-pixel offsets), noise, JPEG."""
    world, texts = _board()
    shake = _shake(11, 2.5)
    frames = film(world, Shot(n, position=lambda i: (MARGIN + shake(i)[0], MARGIN + shake(i)[1]), seed=1))
    return Scene("shaken", frames, 10.0, texts)


def slow_pan(n: int = 60) -> Scene:
    """The camera pans right 2.5 px a frame (150 px in all) with a little shake; both signs stay in view."""
    world, texts = _board(width_extra=0)
    shake = _shake(12, 1.0)
    frames = film(
        world, Shot(n, position=lambda i: (MARGIN - 75 + 2.5 * i + shake(i)[0], MARGIN + shake(i)[1]), seed=2)
    )
    return Scene("pan", frames, 10.0, texts)


def exposure_ramp(n: int = 40) -> Scene:
    """Auto-exposure hunting: gain 1.0 -> 0.65 -> 1.25 and an offset drift, with shake."""
    world, texts = _board()
    shake = _shake(13, 1.5)

    def exposure(i: int) -> tuple[float, float]:
        t = i / max(1, n - 1)
        gain = 1.0 - 0.7 * t if t < 0.5 else 0.3 + 1.9 * (t - 0.5) + 0.35
        return gain, 12.0 * np.sin(3 * t)

    frames = film(
        world, Shot(n, position=lambda i: (MARGIN + shake(i)[0], MARGIN + shake(i)[1]), exposure=exposure, seed=3)
    )
    return Scene("exposure", frames, 10.0, texts)


def blur_and_occluder(n: int = 44) -> Scene:
    """Shake, two frames smeared by a camera swing, and a pole (narrower than either sign) walking past."""
    world, texts = _board()
    shake = _shake(14, 1.5)

    def pole(i: int) -> tuple[int, int] | None:
        if not 16 <= i < 38:
            return None
        x = -40 + (i - 16) * 34
        return x, x + 40

    frames = film(
        world,
        Shot(
            n,
            position=lambda i: (MARGIN + shake(i)[0], MARGIN + shake(i)[1]),
            blur=lambda i: 15 if i in (8, 9) else 0,
            occluder=pole,
            seed=4,
        ),
    )
    return Scene("occluded", frames, 10.0, texts)


def plate_drive_through(n: int = 48) -> Scene:
    """A number plate drives through left to right past a static sign, camera shaking a little."""
    w, h = 640, 360
    world = wall(w + 2 * MARGIN, h + 2 * MARGIN)
    sign(world, "CAR PARK", MARGIN + 220, MARGIN + 90, 1.3)
    shake = _shake(15, 1.0)
    text = "KD 4821"
    (tw, th), _ = cv2.getTextSize(text, FONT, 1.1, 2)

    def car(view: np.ndarray, i: int) -> None:
        x = int(-tw - 60 + i * (w + tw + 120) / (n - 1))
        y = 270
        cv2.rectangle(view, (x - 80, y - 70), (x + tw + 80, y + 50), (60, 40, 150), -1)  # the car's back
        cv2.rectangle(view, (x - 10, y - th - 10), (x + tw + 10, y + 12), (235, 235, 235), -1)  # the plate
        _put(view, text, x, y, 1.1, (15, 15, 15), 2)

    frames = film(world, Shot(n, position=lambda i: (MARGIN + shake(i)[0], MARGIN + shake(i)[1]), overlay=car, seed=5))
    return Scene("plate", frames, 10.0, {"CAR PARK", text})


SCENES: dict[str, Callable[[], Scene]] = {
    "static": static_sign,
    "ticker": ticker,
    "appear": appear_disappear,
    "noisy": noisy_jitter,
    "cut": scene_cut,
    "price": price_change,
    "shaken": shaken,
    "pan": slow_pan,
    "exposure": exposure_ramp,
    "occluded": blur_and_occluder,
    "plate": plate_drive_through,
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
