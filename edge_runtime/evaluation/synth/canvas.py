"""Drawing primitives of the renderer: text lines that return their quadrilateral, warps that move both pixels
and quadrilaterals, and the photometric effects (lighting, blur, noise, JPEG) that leave geometry alone."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.evaluation.synth.fonts import font

Rng = np.random.Generator
Quad = np.ndarray  # (4, 2) float, clockwise from top-left
Colour = tuple[int, int, int]  # RGB


def text_quad(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font_name: str,
    size: int,
    fill: Colour,
    anchor: str = "ls",
    stretch: float = 1.0,
) -> Quad:
    """Draw ``text`` with its baseline-left (or ``anchor``) at ``xy``; return its ink box, padded a little."""
    f = font(font_name, size)
    draw.text(xy, text, font=f, fill=fill, anchor=anchor)
    x0, y0, x1, y1 = draw.textbbox(xy, text, font=f, anchor=anchor)
    pad = max(1.0, 0.06 * size)
    return box_quad(x0 - pad, y0 - pad, x1 + pad, y1 + pad)


def text_size(text: str, font_name: str, size: int) -> tuple[int, int]:
    x0, y0, x1, y1 = font(font_name, size).getbbox(text, anchor="ls")
    return int(x1 - x0), int(y1 - y0)  # FreeType boxes are whole pixels; the stubs say float


def box_quad(x0: float, y0: float, x1: float, y1: float) -> Quad:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def apply(h: np.ndarray, quad: Quad) -> Quad:
    pts = np.asarray(quad, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, h).reshape(-1, 2)


def jitter_homography(
    rng: Rng, w: int, h: int, angle: float, persp: float, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Rotation by ``angle`` degrees about the centre, corners moved by up to ``persp`` of the size, scaled."""
    src = box_quad(0, 0, w, h).astype(np.float32)
    dst = src + rng.uniform(-persp, persp, (4, 2)).astype(np.float32) * np.array([w, h], dtype=np.float32)
    p = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    r = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale), [0, 0, 1]])
    t = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]], dtype=np.float64)
    return t @ r @ p


def fit(h: np.ndarray, w: int, hgt: int, margin: float = 0.0) -> tuple[np.ndarray, int, int]:
    """Shift ``h`` so the warped ``w``×``hgt`` rectangle starts at ``margin``; return it and the new size."""
    corners = apply(h, box_quad(0, 0, w, hgt))
    lo, hi = corners.min(0), corners.max(0)
    t = np.array([[1, 0, margin - lo[0]], [0, 1, margin - lo[1]], [0, 0, 1]], dtype=np.float64)
    size = np.ceil(hi - lo + 2 * margin).astype(int)
    return t @ h, int(size[0]), int(size[1])


def warp(img: np.ndarray, h: np.ndarray, w: int, hgt: int, border: Colour | int | None = None) -> np.ndarray:
    if border is None:
        return cv2.warpPerspective(img, h, (w, hgt), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpPerspective(
        img, h, (w, hgt), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
    )


def paste(dst: np.ndarray, patch: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Compose ``patch`` (same size as ``dst``) over ``dst`` with ``alpha`` in 0..1."""
    a = alpha[..., None].astype(np.float32)
    return (patch.astype(np.float32) * a + dst.astype(np.float32) * (1 - a)).round().clip(0, 255).astype(np.uint8)


def to_pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img)


def to_np(img: Image.Image) -> np.ndarray:
    return np.asarray(img).copy()


# ---- photometric effects (RGB uint8 in, RGB uint8 out) ----------------------------------------------
def lighting(rng: Rng, img: np.ndarray, strength: float) -> np.ndarray:
    """Uneven light: a linear gradient times a soft spot (or shadow)."""
    hgt, w = img.shape[:2]
    yy, xx = np.mgrid[0:hgt, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(ang) * xx / w + np.sin(ang) * yy / hgt
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp)))
    cx, cy, rad = rng.uniform(0, w), rng.uniform(0, hgt), rng.uniform(0.3, 0.8) * max(w, hgt)
    spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * rad * rad))
    field = 1 - strength * ramp + strength * 0.6 * (spot - 0.5) * rng.choice([-1.0, 1.0])
    return (img.astype(np.float32) * field[..., None]).clip(0, 255).astype(np.uint8)


def blur(rng: Rng, img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0.05:
        return img
    if rng.random() < 0.3:  # motion blur
        k = max(3, int(sigma * 4) | 1)
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        turned = cv2.warpAffine(kernel, rot, (k, k))
        return cv2.filter2D(img, -1, turned / max(1e-6, turned.sum()))
    return cv2.GaussianBlur(img, (0, 0), sigma)


def noise(rng: Rng, img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    n = rng.normal(0, sigma, img.shape[:2] + (1,)) + rng.normal(0, sigma * 0.4, img.shape)
    return (img.astype(np.float32) + n).clip(0, 255).astype(np.uint8)


def contrast(img: np.ndarray, gain: float, bias: float) -> np.ndarray:
    return (img.astype(np.float32) * gain + bias).clip(0, 255).astype(np.uint8)


def encode(img: np.ndarray, ext: str, quality: int = 90) -> bytes:
    """Encode RGB (or gray) ``img``: ``.jpg`` with ``quality``, else PNG."""
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if ext == ".jpg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError(f"could not encode a {ext} image")
    return buf.tobytes()


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG artefacts baked in (for crops stored as PNG)."""
    bgr = cv2.imdecode(np.frombuffer(encode(img, ".jpg", quality), np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError("could not decode the JPEG just encoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def random_colour(rng: Rng, lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(lo, hi + 1, 3))
    return r, g, b


def luminance(c: Colour) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def contrasting(rng: Rng, bg: Colour, min_delta: float = 90) -> tuple[int, int, int]:
    """A random colour whose luminance differs from ``bg``'s by at least ``min_delta``."""
    for _ in range(50):
        c = random_colour(rng)
        if abs(luminance(c) - luminance(bg)) >= min_delta:
            return c
    return (0, 0, 0) if luminance(bg) > 127 else (255, 255, 255)
