"""The synthetic sets: name, count, renderer, file type, and the words of their SOURCE.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_runtime.evaluation.synth import crops, documents, scenes

Renderer = Callable[[np.random.Generator], tuple[np.ndarray, dict]]


@dataclass(frozen=True)
class SetSpec:
    """One set: ``count`` images, each ``render(rng) -> (RGB image, row without 'image')``."""

    name: str
    count: int
    render: Renderer
    ext: str  # ".jpg" or ".png"
    what: str  # one line for the README
    how: str  # SOURCE.md: rendering and augmentations
    covers: str  # SOURCE.md: what it covers and what it does not


SETS: tuple[SetSpec, ...] = (
    SetSpec(
        "synth_receipts",
        40,
        documents.receipt,
        ".jpg",
        "receipt-like layouts on a desk: line quadrilaterals + text, mostly upper case",
        "A receipt is laid out flat (shop name, registration, address, phone, invoice number, date and time, "
        "item / quantity / amount columns, subtotal, tax, total, cash, change, a footer) in DejaVu Sans Mono or "
        "DejaVu Sans, regular and bold, 13-21 px, grey ink from black to faded (luminance up to 150) on paper of "
        "a random warm tint; rules are drawn as lines or dashes (not labelled, as on SROIE); half the receipts "
        "fade by 30-65 % towards one edge, like thermal print. The paper is then put on a desk of a random "
        "colour, rotated by up to ±3°, scaled 0.8-1.4× and warped in perspective (corners moved by up to 4 %), "
        "lit unevenly (gradient + spot or shadow), blurred (Gaussian or motion, σ ≤ 1.8), given sensor noise "
        "(σ 2-10) and saved as JPEG at quality 25-80. One region per column group of a printed line "
        "(a left-hand item and "
        "its right-hand amount are two regions, like SROIE); each quadrilateral is the text's ink box padded "
        "by 6 % of the font size and moved by the same homography as the pixels.",
        "Covers: printed receipts photographed flat-ish, thermal-like faded ink, columns of prices. Does not "
        "cover: crumpled or folded paper, handwritten notes, logos, stamps, barcodes, non-Latin scripts, "
        "long receipts shot in several strips.",
    ),
    SetSpec(
        "synth_signs",
        48,
        scenes.sign_scene,
        ".jpg",
        "scene-like 960×720 images: signs with short words on clutter; unreadable ones are `###` don't-care",
        "A procedural background (two-colour gradient + low-frequency noise, then bricks or random rectangles, "
        "ellipses and lines; no letters) receives 2-6 signs: a coloured board with 1-3 lines of short text "
        "(sign words, shop names, phone numbers, prices) in any of the 14 fonts, 15-63 px, sometimes with a "
        "border, one in five in low contrast; a quarter of the later signs hold small 8-12 px text. Each sign "
        "is rotated by up to ±18°, warped in perspective (up to 16 %) and placed without overlap. Occluders "
        "(poles, discs) are drawn in front; then uneven light, a contrast drop in a third, blur (σ 0-2.2, "
        "Gaussian or motion), noise (σ 1-9) and JPEG at quality 50-92. One region per printed line. Small "
        "text, text in low contrast (luminance difference < 60) and lines more than 10 % covered by an "
        "occluder are `###` with `ignore: true`, as in ICDAR 2015.",
        "Covers: signs and labels seen at an angle, varied colours and fonts, blur, dim light, partial "
        "occlusion. Does not cover: curved or vertical text, real photographs' textures and lighting, text "
        "on curved surfaces, reflections, crowded scenes with dozens of words, non-Latin scripts.",
    ),
    SetSpec(
        "plates_synth",
        48,
        scenes.plate_scene,
        ".jpg",
        "a car-ish scene with one licence plate (UK, US, DE, NL, FR, MY formats); label without spaces",
        "A car (rounded body, window, lamps, bumper) on a procedural background carries one plate in a "
        "national format (`AB12 CDE`, `7ABC123`, `ABC 1234`, `B MW 1234`, `12-ABC-3`, `AB-123-CD`) rendered in "
        "DejaVu Sans or Sans Mono (bold or regular), squeezed horizontally to 70-100 % like condensed plate "
        "lettering, with a border and an EU band where the format has one. The plate (100-240 px wide) is "
        "rotated by up to ±9° and warped in perspective (10 %), then the whole scene by up to ±4° and 6 %. "
        "40 % of the images are at night (dark, uneven light, more noise); blur σ 0-2.4; JPEG at quality 50-92. "
        "Only the plate is labelled: its outer rectangle, text without spaces or dashes (`printed` keeps "
        "them, `region` the format, `light` day or night).",
        "Covers: one plate per image, frontal to moderately oblique, day and night, several layouts. Does not "
        "cover: real plate fonts (FE-Schrift, Charles Wright), two-line plates, dirt, glare, motion smear at "
        "speed, very small or distant plates, several cars.",
    ),
    SetSpec(
        "page_synth",
        12,
        documents.page,
        ".jpg",
        "printed pages (headings, paragraphs, a field: value block), some turned by 90/180/270°",
        "An 850×1200 page: a title, paragraphs of English-like sentences (common English words in random "
        "order, with numbers and punctuation) wrapped to the margins, occasional sub-headings, and a form "
        "block of `Field: value` lines; DejaVu Serif or STIX (serif pages), DejaVu Sans or Sans Mono, 12-20 px, "
        "ink from black to mid grey. Half the pages are photographed rather than scanned (tilt up to ±1.5°, "
        "perspective up to 2 %, uneven light); blur σ ≤ size/16, noise σ ≤ 9, then a turn by 0, 90, 180 or "
        "270° (`rotation`, anticlockwise; half the pages stay upright) and JPEG at quality 40-90. "
        "The label is the full text with one `\\n` per printed line.",
        "Covers: clean printed pages in the four orientations, serif and sans. Does not cover: multi-column "
        "layouts, real tables with rules, small print, skewed scans, photographs of pages, meaningful prose.",
    ),
    SetSpec(
        "rec_synth_words",
        300,
        crops.word,
        ".png",
        "single word crops: words in any case, numbers, prices, dates, codes, times",
        "A word (55 % dictionary words in lower, title or upper case; else numbers, prices with `$`/`RM`, dates, "
        "codes like `AB-123`, times) in any of the 14 fonts at 36-63 px on a random colour, sometimes with "
        "stripes behind, in a random contrasting colour; warped in perspective (up to 14 %) and rotated by up "
        "to ±8°, cropped around the text with a margin like a detector's crop, lit unevenly, blurred "
        "(σ ≤ 2.6), shrunk to 11-35 px high, given noise (σ ≤ 12) and JPEG artefacts (quality 25-90), stored as PNG.",
        "Covers: short horizontal words with low resolution, blur, colour and perspective. Does not cover: "
        "curved or vertical words, real scene textures, handwriting, non-Latin scripts.",
    ),
    SetSpec(
        "rec_synth_lines",
        60,
        crops.line,
        ".png",
        "printed text line crops (sentences, item lines, references)",
        "A line of 4-11 English-like words, an item line (`Milk 2 x 3.50 = 7.00`) or a reference line in a "
        "serif, sans or mono font at 28-47 px, grey paper or a light colour, rotated by up to ±1.5°, cropped "
        "with a margin; 30 % binarized (Otsu) like UW-III; blur σ ≤ 1.6, shrunk to 18-39 px high, noise, JPEG "
        "artefacts (quality 50-95); stored as PNG. Judged by exact match (and CER).",
        "Covers: whole printed lines with spaces and punctuation. Does not cover: lines longer than ~70 "
        "characters, justified text, mixed fonts within a line, non-Latin scripts.",
    ),
)
