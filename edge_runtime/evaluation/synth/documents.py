"""Receipts (line quadrilaterals + text) and printed pages (full text), rendered flat and then photographed."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.evaluation.synth import canvas as cv
from edge_runtime.evaluation.synth import content as tx
from edge_runtime.evaluation.synth import fonts

Rng = np.random.Generator
RULE = [("---", "rule")]  # a row drawn as a dashed rule across the paper, not as text


# ---- receipts -----------------------------------------------------------------------------------------
def _receipt_rows(rng: Rng) -> list[list[tuple[str, str]]]:
    """Rows of (text, where) with where in left | right | centre | mid; an empty row is a gap, RULE a rule."""
    name = f"{tx.pick(rng, tx.NAME_WORDS)} {tx.pick(rng, tx.SHOP_WORDS)}"
    if tx.chance(rng, 0.4):
        name += tx.pick(rng, (" SDN BHD", " LTD", " & CO", " ENTERPRISE"))
    rows: list[list[tuple[str, str]]] = [[(name, "centre")]]
    if tx.chance(rng, 0.6):
        rows.append([(f"({tx.digits(rng, 6)}-{tx.letters(rng, 1)})", "centre")])
    rows.append([(f"NO.{int(rng.integers(1, 300))}, {tx.pick(rng, tx.STREETS)} {int(rng.integers(1, 40))}", "centre")])
    rows.append([(f"{tx.digits(rng, 5)} {tx.pick(rng, tx.TOWNS)}", "centre")])
    rows.append([(f"TEL: {tx.digits(rng, 2)}-{tx.digits(rng, 4)} {tx.digits(rng, 4)}", "centre")])
    if tx.chance(rng, 0.5):
        rows.append([(f"GST REG NO: {tx.digits(rng, 12)}", "centre")])
    rows += [[], [(tx.pick(rng, ("TAX INVOICE", "RECEIPT", "CASH SALE", "SALES RECEIPT")), "centre")], []]
    rows.append(
        [
            (
                f"{tx.pick(rng, ('INV NO', 'RECEIPT #', 'BILL NO', 'DOC NO'))}: "
                f"{tx.letters(rng, 2)}{tx.digits(rng, 6)}",
                "left",
            )
        ]
    )
    if tx.chance(rng, 0.5):
        rows.append([(f"DATE: {tx.date(rng)}", "left"), (f"TIME: {tx.clock(rng)}", "right")])
    else:
        rows += [[(f"DATE: {tx.date(rng)}", "left")], [(f"TIME: {tx.clock(rng)}", "left")]]
    rows.append(
        [(f"CASHIER: {tx.pick(rng, ('ANNA', 'LEE', 'SITI', 'JOHN', 'MARY', 'AHMAD', 'KUMAR', 'TAN'))}", "left")]
    )
    rows += [RULE, [("ITEM", "left"), ("QTY", "mid"), ("AMOUNT", "right")], RULE]
    total = 0.0
    for _ in range(int(rng.integers(3, 10))):
        item, qty, unit = tx.pick(rng, tx.ITEMS), int(rng.integers(1, 5)), float(rng.uniform(0.8, 40))
        amount = round(qty * unit, 2)
        total += amount
        rows.append([(item, "left"), (str(qty), "mid"), (f"{amount:.2f}", "right")])
    tax = round(total * 0.06, 2)
    cash = float(np.ceil((total + tax) / 10) * 10)
    rows += [
        RULE,
        [("SUBTOTAL", "left"), (f"{total:.2f}", "right")],
        [("TAX 6%", "left"), (f"{tax:.2f}", "right")],
        [("TOTAL", "left"), (f"{total + tax:.2f}", "right")],
        [("CASH", "left"), (f"{cash:.2f}", "right")],
        [("CHANGE", "left"), (f"{cash - total - tax:.2f}", "right")],
        RULE,
        [
            (
                tx.pick(
                    rng,
                    ("THANK YOU", "THANK YOU PLEASE COME AGAIN", "GOODS SOLD ARE NOT RETURNABLE", "HAVE A NICE DAY"),
                ),
                "centre",
            )
        ],
    ]
    return rows


def receipt(rng: Rng) -> tuple[np.ndarray, dict]:
    face = tx.pick(rng, fonts.MONO[:2] + fonts.MONO[:2] + fonts.SANS[:2])
    size = int(rng.integers(13, 22))
    width = int(rng.integers(380, 540))
    step = int(size * rng.uniform(1.45, 1.75))
    rows = _receipt_rows(rng)
    height = step * (len(rows) + 3)
    paper = tuple(int(v) for v in (rng.integers(225, 256), rng.integers(220, 252), rng.integers(205, 245)))
    ink = (int(rng.integers(15, 150)),) * 3  # up to faded thermal print
    page = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(page)
    margin = int(rng.integers(18, 34))
    quads: list[tuple[str, np.ndarray]] = []
    y = step * 2
    for i, row in enumerate(rows):
        if row == RULE:
            yy = y - size // 3
            if tx.chance(rng, 0.5):
                draw.line([(margin, yy), (width - margin, yy)], fill=ink, width=1)
            else:
                for dash in range(margin, width - margin, 10):
                    draw.line([(dash, yy), (dash + 5, yy)], fill=ink, width=1)
            y += step
            continue
        for text, where in row:
            big = i == 0 or text.startswith("TOTAL")
            s = int(size * (1.3 if i == 0 else 1.0))
            f = face.replace(".ttf", "-Bold.ttf") if big and "Bold" not in face else face
            w, _ = cv.text_size(text, f, s)
            if w > width - 2 * margin:  # too wide for the paper: smaller
                s = max(10, int(s * (width - 2 * margin) / w))
                w, _ = cv.text_size(text, f, s)
            x: float = {
                "left": margin,
                "right": width - margin - w,
                "centre": (width - w) / 2,
                "mid": width * 0.62 - w / 2,
            }[where]
            quads.append((text, cv.text_quad(draw, (x, y), text, f, s, ink)))
        y += step
    flat = cv.to_np(page)
    if tx.chance(rng, 0.5):  # thermal print fading across the paper
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = xx / width if tx.chance(rng, 0.5) else yy / height
        fade = (rng.uniform(0.3, 0.65) * (ramp if tx.chance(rng, 0.5) else 1 - ramp))[..., None]
        flat = (flat * (1 - fade) + np.array(paper, dtype=np.float32) * fade).round().astype(np.uint8)
    # the paper on a desk, photographed: rotation, perspective, light, noise, JPEG
    h0 = cv.jitter_homography(rng, width, height, rng.uniform(-3, 3), rng.uniform(0, 0.04), rng.uniform(0.8, 1.4))
    h, out_w, out_h = cv.fit(h0, width, height, margin=int(rng.integers(15, 60)))
    desk = np.full((out_h, out_w, 3), cv.random_colour(rng, 40, 200), np.uint8)
    desk = cv.noise(rng, desk, 6)
    warped = cv.warp(flat, h, out_w, out_h, border=(0, 0, 0))
    mask = cv.warp(np.ones((height, width), np.float32), h, out_w, out_h, border=0)
    img = cv.paste(desk, warped, mask)
    img = cv.lighting(rng, img, rng.uniform(0.1, 0.45))
    img = cv.blur(rng, img, rng.uniform(0, 1.8))
    img = cv.noise(rng, img, rng.uniform(2, 10))
    lines = [{"text": t, "points": _points(cv.apply(h, q)), "ignore": False} for t, q in quads]
    return img, {"lines": lines, "jpeg_quality": int(rng.integers(25, 80))}


def _points(quad: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 1), round(float(y), 1)] for x, y in quad]


# ---- pages --------------------------------------------------------------------------------------------
def _wrap(text: str, face: str, size: int, width: int) -> list[str]:
    out, line = [], ""
    for w in text.split():
        cand = f"{line} {w}".strip()
        if line and cv.text_size(cand, face, size)[0] > width:
            out.append(line)
            line = w
        else:
            line = cand
    return out + ([line] if line else [])


def page(rng: Rng) -> tuple[np.ndarray, dict]:
    width, height = 850, 1200
    serif = tx.chance(rng, 0.5)
    body = tx.pick(rng, (fonts.SERIF[0], fonts.SERIF[3]) if serif else (fonts.SANS[0], fonts.MONO[0]))
    bold = tx.pick(rng, (fonts.SERIF[1], fonts.SERIF[4]) if serif else (fonts.SANS[1],))
    size = int(rng.integers(12, 21))
    step = int(size * rng.uniform(1.35, 1.6))
    margin = int(rng.integers(55, 100))
    paper = (int(rng.integers(235, 256)),) * 3
    img = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(img)
    ink = (int(rng.integers(0, 110)),) * 3
    lines: list[str] = []
    y = margin + size
    title = " ".join(tx.word(rng).capitalize() for _ in range(int(rng.integers(2, 6))))

    def put(text: str, face: str, s: int, x: float = margin) -> None:
        nonlocal y
        draw.text((x, y), text, font=fonts.font(face, s), fill=ink, anchor="ls")
        lines.append(text)

    put(title, bold, int(size * 1.6))
    y += int(step * 1.8)
    while y < height - margin - 8 * step:
        if tx.chance(rng, 0.25) and lines:
            put(" ".join(tx.word(rng).capitalize() for _ in range(int(rng.integers(1, 4)))), bold, int(size * 1.2))
            y += int(step * 1.3)
        para = " ".join(tx.sentence(rng) for _ in range(int(rng.integers(2, 5))))
        for text in _wrap(para, body, size, width - 2 * margin):
            if y > height - margin - 6 * step:
                break
            put(text, body, size)
            y += step
        y += step // 2
    fields = (
        ("Name", lambda: f"{tx.word(rng).capitalize()} {tx.word(rng).capitalize()}"),
        ("Date", lambda: tx.date(rng)),
        ("Reference", lambda: f"{tx.letters(rng, 3)}-{tx.digits(rng, 5)}"),
        ("Amount", lambda: f"${tx.price(rng, 900)}"),
        ("Phone", lambda: f"{tx.digits(rng, 3)} {tx.digits(rng, 4)}"),
    )
    for label, value in fields[: int(rng.integers(2, 6))]:
        if y > height - margin:
            break
        put(f"{label}: {value()}", body, size)
        y += step
    rotation = int(tx.pick(rng, (0, 0, 0, 90, 180, 270)))
    out = cv.to_np(img)
    if tx.chance(rng, 0.5):  # photographed rather than scanned: a slight tilt and uneven light
        h = cv.jitter_homography(rng, width, height, rng.uniform(-1.5, 1.5), rng.uniform(0, 0.02))
        out = cv.lighting(rng, cv.warp(out, h, width, height, border=paper), rng.uniform(0.1, 0.4))
    out = cv.noise(rng, cv.blur(rng, out, rng.uniform(0, size / 16)), rng.uniform(0, 9))
    out = np.ascontiguousarray(np.rot90(out, k=rotation // 90))  # k quarter turns anticlockwise
    return out, {"text": "\n".join(lines), "rotation": rotation, "jpeg_quality": int(rng.integers(40, 90))}
