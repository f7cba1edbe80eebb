"""Word and line crops for the recognizer alone: text on a textured patch, warped, blurred, shrunk, noisy."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.evaluation.synth import canvas as cv
from edge_runtime.evaluation.synth import content as tx
from edge_runtime.evaluation.synth import fonts

Rng = np.random.Generator


def _crop(
    rng: Rng, text: str, face: str, size: int, bg: cv.Colour, ink: cv.Colour, persp: float, angle: float
) -> np.ndarray:
    tw, th = cv.text_size(text, face, size)
    pad_x, pad_y = int(size * rng.uniform(0.15, 0.6)), int(size * rng.uniform(0.15, 0.45))
    w, h = tw + 2 * pad_x, int(size * 1.25) + 2 * pad_y
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    if tx.chance(rng, 0.3):  # texture behind the text
        for _ in range(int(rng.integers(2, 8))):
            c = tuple(int(np.clip(v + rng.integers(-40, 41), 0, 255)) for v in bg)
            draw.line(
                [(int(rng.integers(0, w)), 0), (int(rng.integers(0, w)), h)], fill=c, width=int(rng.integers(1, 6))
            )
    quad = cv.text_quad(draw, (pad_x, pad_y + size), text, face, size, ink)
    arr = cv.to_np(img)
    hmat = cv.jitter_homography(rng, w, h, angle, persp)
    hmat, ow, oh = cv.fit(hmat, w, h)
    arr = cv.warp(arr, hmat, ow, oh)
    q = cv.apply(hmat, quad)
    # crop around the warped text box with a little context, as a detector's crop would be
    m = rng.uniform(0.05, 0.35) * size
    x0, y0 = np.maximum(0, np.floor(q.min(0) - m)).astype(int)
    x1, y1 = np.minimum([ow, oh], np.ceil(q.max(0) + m)).astype(int)
    return arr[y0:y1, x0:x1]


def _finish(rng: Rng, img: np.ndarray, height: int, blur: float, sigma: float, quality: int) -> np.ndarray:
    img = cv.blur(rng, img, blur)
    scale = height / img.shape[0]
    img = cv2.resize(img, (max(4, int(img.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    img = cv.noise(rng, img, sigma)
    return cv.jpeg_roundtrip(img, quality)


def word(rng: Rng) -> tuple[np.ndarray, dict]:
    text = tx.crop_word(rng)
    face = tx.pick(rng, fonts.ALL)
    bg = cv.random_colour(rng)
    ink = cv.contrasting(rng, bg, float(rng.uniform(40, 150)))
    size = int(rng.integers(36, 64))
    img = _crop(rng, text, face, size, bg, ink, rng.uniform(0, 0.14), rng.uniform(-8, 8))
    img = cv.lighting(rng, img, rng.uniform(0, 0.4))
    img = _finish(
        rng, img, int(rng.integers(11, 36)), rng.uniform(0, 2.6), rng.uniform(0, 12), int(rng.integers(25, 90))
    )
    return img, {"text": text, "font": face}


def line(rng: Rng) -> tuple[np.ndarray, dict]:
    r = rng.random()
    if r < 0.6:
        text = tx.sentence(rng, 4, 11)
    elif r < 0.8:
        text = (
            f"{tx.pick(rng, tx.ITEMS).title()} {int(rng.integers(1, 9))} x {tx.price(rng, 30)} = {tx.price(rng, 200)}"
        )
    else:
        text = f"{tx.pick(rng, ('Invoice', 'Order', 'Ref', 'Account'))} No. {tx.digits(rng, 6)} dated {tx.date(rng)}"
    face = tx.pick(rng, fonts.SERIF + fonts.SANS[:2] + fonts.MONO[:1])
    paper = (int(rng.integers(200, 256)),) * 3 if tx.chance(rng, 0.7) else cv.random_colour(rng, 150, 255)
    ink = cv.contrasting(rng, paper, 110)
    size = int(rng.integers(28, 48))
    img = _crop(rng, text, face, size, paper, ink, rng.uniform(0, 0.02), rng.uniform(-1.5, 1.5))
    if tx.chance(rng, 0.3):  # binarized scan, like UW-III
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        gray = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
        img = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    img = _finish(
        rng, img, int(rng.integers(18, 40)), rng.uniform(0, 1.6), rng.uniform(0, 8), int(rng.integers(50, 95))
    )
    return img, {"text": text, "font": face}
