"""Scene-like images: procedural backgrounds, signs with short texts, and cars with one licence plate."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.evaluation.synth import canvas as cv
from edge_runtime.evaluation.synth import content as tx
from edge_runtime.evaluation.synth import fonts

Rng = np.random.Generator
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
W, H = 960, 720


def background(rng: Rng, w: int = W, h: int = H) -> np.ndarray:
    """Gradient + noise, then bricks, shapes or lines: clutter without letters."""
    a, b = np.array(cv.random_colour(rng, 30, 220), np.float32), np.array(cv.random_colour(rng, 30, 220), np.float32)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = (a * (1 - t) + b * t).repeat(w, axis=1)
    low = (rng.normal(0, 1, (h // 16, w // 16)) * 25).astype(np.float32)
    img += cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
    out = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    style = int(rng.integers(3))
    if style == 0:  # bricks
        bw, bh = int(rng.integers(40, 90)), int(rng.integers(18, 36))
        mortar = cv.random_colour(rng, 120, 220)
        for row, y in enumerate(range(0, h, bh)):
            draw.line([(0, y), (w, y)], fill=mortar, width=3)
            for x in range((row % 2) * bw // 2, w, bw):
                draw.line([(x, y), (x, y + bh)], fill=mortar, width=3)
    n = int(rng.integers(8, 30)) if style != 0 else int(rng.integers(0, 8))
    for _ in range(n):
        c = cv.random_colour(rng, 20, 235)
        x0, y0 = int(rng.integers(-50, w)), int(rng.integers(-50, h))
        x1, y1 = x0 + int(rng.integers(10, 300)), y0 + int(rng.integers(10, 300))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.rectangle([x0, y0, x1, y1], fill=c)
        elif kind == 1:
            draw.ellipse([x0, y0, x1, y1], fill=c)
        else:
            draw.line(
                [(x0, y0), (int(rng.integers(0, w)), int(rng.integers(0, h)))], fill=c, width=int(rng.integers(1, 8))
            )
    return cv.to_np(out)


def _sign_patch(rng: Rng, small: bool) -> tuple[np.ndarray, list[tuple[str, np.ndarray, bool]]]:
    """A sign board: coloured rectangle with 1-3 lines of short text; returns its quads in patch pixels."""
    n = 1 if small else int(rng.choice([1, 1, 2, 2, 3]))
    texts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            texts.append(tx.pick(rng, tx.SIGN_WORDS))
        elif r < 0.75:
            texts.append(f"{tx.pick(rng, tx.NAME_WORDS).title()} {tx.pick(rng, tx.SHOP_WORDS).title()}")
        elif r < 0.88:
            texts.append(f"TEL {tx.digits(rng, 3)} {tx.digits(rng, 4)}")
        else:
            texts.append(f"${tx.price(rng, 50)}")
    face = tx.pick(rng, fonts.ALL)
    size = int(rng.integers(8, 13)) if small else int(rng.integers(15, 64))
    step = int(size * 1.35)
    widths = [cv.text_size(t, face, size)[0] for t in texts]
    pad = int(size * rng.uniform(0.4, 1.0))
    pw, ph = max(widths) + 2 * pad, step * n + 2 * pad - (step - size)
    bg = cv.random_colour(rng)
    weak = not small and tx.chance(rng, 0.2)  # low contrast sign
    ink = cv.contrasting(rng, bg, 35 if weak else 100)
    img = Image.new("RGB", (pw, ph), bg)
    draw = ImageDraw.Draw(img)
    if tx.chance(rng, 0.5):
        draw.rectangle([2, 2, pw - 3, ph - 3], outline=ink, width=max(1, size // 12))
    quads = []
    for i, (t, w) in enumerate(zip(texts, widths, strict=True)):
        x = (pw - w) / 2 if tx.chance(rng, 0.7) else pad
        y = pad + size * 0.85 + i * step
        low_contrast = abs(cv.luminance(ink) - cv.luminance(bg)) < 60
        quads.append((t, cv.text_quad(draw, (x, y), t, face, size, ink), small or low_contrast))
    return cv.to_np(img), quads


def _overlaps(box: Box, boxes: list[Box], gap: int = 8) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] + gap and b[0] < x1 + gap and y0 < b[3] + gap and b[1] < y1 + gap for b in boxes)


def _quad_fraction(mask: np.ndarray, quad: np.ndarray) -> float:
    poly = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(poly, [quad.round().astype(np.int32)], 1)
    area = int(poly.sum())
    return float((mask * poly).sum()) / area if area else 1.0


def sign_scene(rng: Rng) -> tuple[np.ndarray, dict]:
    img = background(rng)
    boxes: list[tuple[float, float, float, float]] = []
    labels: list[tuple[str, np.ndarray, bool]] = []
    for k in range(int(rng.integers(2, 7))):
        small = k > 0 and tx.chance(rng, 0.25)
        patch, quads = _sign_patch(rng, small)
        ph, pw = patch.shape[:2]
        scale = min(1.0, 0.8 * W / pw, 0.5 * H / ph)
        h0 = cv.jitter_homography(rng, pw, ph, rng.uniform(-18, 18), rng.uniform(0, 0.16), scale)
        h, ow, oh = cv.fit(h0, pw, ph)
        if ow >= W or oh >= H:
            continue
        for _ in range(20):
            x, y = int(rng.integers(0, W - ow)), int(rng.integers(0, H - oh))
            if not _overlaps((x, y, x + ow, y + oh), boxes):
                break
        else:
            continue
        boxes.append((x, y, x + ow, y + oh))
        h = np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], dtype=np.float64) @ h
        mask = cv.warp(np.ones((ph, pw), np.float32), h, W, H, border=0)
        img = cv.paste(img, cv.warp(patch, h, W, H, border=(0, 0, 0)), mask)
        labels += [(t, cv.apply(h, q), ign) for t, q, ign in quads]
    # occluders: poles, wires, leaves in front of the signs
    over, occ = Image.fromarray(img), Image.new("L", (W, H), 0)
    draw, mdraw = ImageDraw.Draw(over), ImageDraw.Draw(occ)
    for _ in range(int(rng.integers(0, 4))):
        c = cv.random_colour(rng, 10, 200)
        if tx.chance(rng, 0.5):
            x = int(rng.integers(0, W))
            wd = int(rng.integers(6, 30))
            shape = [x, 0, x + wd, H]
            draw.rectangle(shape, fill=c)
            mdraw.rectangle(shape, fill=1)
        else:
            x, y, r = int(rng.integers(0, W)), int(rng.integers(0, H)), int(rng.integers(15, 60))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=c)
            mdraw.ellipse([x - r, y - r, x + r, y + r], fill=1)
    img, occluded = cv.to_np(over), cv.to_np(occ)
    img = cv.lighting(rng, img, rng.uniform(0, 0.5))
    if tx.chance(rng, 0.35):
        img = cv.contrast(img, rng.uniform(0.4, 0.8), rng.uniform(20, 60))
    img = cv.blur(rng, img, float(rng.choice([0, 0.6, 1.0, 1.6, 2.2])))
    img = cv.noise(rng, img, rng.uniform(1, 9))
    lines = []
    for text, quad, ignore in labels:
        ignore = ignore or _quad_fraction(occluded, quad) > 0.1
        lines.append({"text": "###" if ignore else text, "points": _points(quad), "ignore": ignore})
    return img, {"lines": lines, "jpeg_quality": int(rng.integers(50, 92))}


def _points(quad: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 1), round(float(y), 1)] for x, y in quad]


# ---- plates -------------------------------------------------------------------------------------------
_PLATE = {
    "uk": ((250, 250, 245), (245, 200, 20)),
    "us": ((240, 240, 235), (225, 232, 245)),
    "de": ((248, 248, 248),),
    "nl": ((250, 200, 20),),
    "fr": ((248, 248, 248),),
    "my": ((15, 15, 15),),
}


def _plate_patch(rng: Rng, text: str, region: str) -> np.ndarray:
    bg = tx.pick(rng, _PLATE[region])
    ink = (
        (235, 235, 235)
        if cv.luminance(bg) < 100
        else (int(rng.integers(0, 40)), int(rng.integers(0, 40)), int(rng.integers(0, 90 if region == "us" else 40)))
    )
    face = tx.pick(rng, fonts.BOLD[:2] + ("DejaVuSans.ttf", "DejaVuSansMono.ttf"))
    size = 80
    tw, th = cv.text_size(text, face, size)
    strip = 60 if region in ("de", "nl", "fr") else 0
    pw, ph = tw + 70 + strip, int(size * 1.5)
    img = Image.new("RGB", (pw, ph), bg)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle([2, 2, pw - 3, ph - 3], radius=12, outline=ink, width=5)
    if strip:  # the EU band: blue, with a country letter
        draw.rectangle([6, 6, strip, ph - 7], fill=(20, 50, 160))
        draw.text(
            (strip / 2 + 3, ph * 0.75),
            {"de": "D", "nl": "NL", "fr": "F"}[region],
            font=fonts.font("DejaVuSans-Bold.ttf", 26),
            fill=(240, 240, 240),
            anchor="ms",
        )
    draw.text((strip + (pw - strip) / 2, ph / 2 + th / 2), text, font=fonts.font(face, size), fill=ink, anchor="ms")
    out = cv.to_np(img)
    squeeze = rng.uniform(0.7, 1.0)  # condensed plate lettering
    return cv2.resize(out, (int(pw * squeeze), ph), interpolation=cv2.INTER_AREA)


def plate_scene(rng: Rng) -> tuple[np.ndarray, dict]:
    printed, region = tx.plate(rng)
    img = Image.fromarray(background(rng))
    draw = ImageDraw.Draw(img)
    body = cv.random_colour(rng, 20, 230)
    cx, cy = W / 2 + rng.uniform(-150, 150), H * rng.uniform(0.45, 0.6)
    cw, ch = rng.uniform(520, 760), rng.uniform(300, 420)
    x0, y0 = cx - cw / 2, cy - ch / 2
    draw.rounded_rectangle([x0, y0, x0 + cw, y0 + ch], radius=int(ch * 0.2), fill=body)
    glass = tuple(int(v * 0.3) for v in cv.random_colour(rng, 60, 200))
    draw.polygon(
        [
            (x0 + cw * 0.15, y0 + ch * 0.05),
            (x0 + cw * 0.85, y0 + ch * 0.05),
            (x0 + cw * 0.78, y0 + ch * 0.35),
            (x0 + cw * 0.22, y0 + ch * 0.35),
        ],
        fill=glass,
    )
    lamp = (250, 250, 230) if tx.chance(rng, 0.5) else (220, 60, 40)
    for sx in (x0 + cw * 0.1, x0 + cw * 0.9):
        draw.ellipse([sx - 35, y0 + ch * 0.5 - 22, sx + 35, y0 + ch * 0.5 + 22], fill=lamp)
    draw.rectangle([x0 - 10, y0 + ch * 0.75, x0 + cw + 10, y0 + ch * 0.92], fill=tuple(int(v * 0.6) for v in body))
    scene = cv.to_np(img)
    patch = _plate_patch(rng, printed, region)
    ph, pw = patch.shape[:2]
    target = rng.uniform(100, 240)
    h0 = cv.jitter_homography(rng, pw, ph, rng.uniform(-9, 9), rng.uniform(0, 0.1), target / pw)
    h, ow, oh = cv.fit(h0, pw, ph)
    h = np.array([[1, 0, cx - ow / 2], [0, 1, y0 + ch * 0.62 - oh / 2], [0, 0, 1]], dtype=np.float64) @ h
    mask = cv.warp(np.ones((ph, pw), np.float32), h, W, H, border=0)
    scene = cv.paste(scene, cv.warp(patch, h, W, H, border=(0, 0, 0)), mask)
    # the whole car seen at an angle
    g = cv.jitter_homography(rng, W, H, rng.uniform(-4, 4), rng.uniform(0, 0.06))
    scene = cv.warp(scene, g, W, H)
    quad = cv.apply(g @ h, cv.box_quad(0, 0, pw, ph))
    night = tx.chance(rng, 0.4)
    if night:
        scene = cv.contrast(scene, rng.uniform(0.25, 0.5), 0)
        scene = cv.lighting(rng, scene, rng.uniform(0.2, 0.5))
    else:
        scene = cv.lighting(rng, scene, rng.uniform(0, 0.4))
    scene = cv.blur(rng, scene, float(rng.choice([0, 0.6, 1.0, 1.4, 1.8, 2.4])))
    scene = cv.noise(rng, scene, rng.uniform(2, 12 if night else 6))
    text = "".join(ch for ch in printed if ch.isalnum())
    row = {
        "lines": [{"text": text, "points": _points(quad), "ignore": False}],
        "region": region,
        "printed": printed,
        "light": "night" if night else "day",
        "jpeg_quality": int(rng.integers(50, 92)),
    }
    return scene, row
