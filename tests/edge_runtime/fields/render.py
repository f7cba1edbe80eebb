"""Receipts and forms rendered here with OpenCV, their fields known by construction (no data files)."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

__all__ = ["page", "RECEIPT", "RECEIPT_FIELDS", "FORM", "FORM_PAIRS"]

LINE = 46  # pixels between rows

# (text, column): column 0 starts at the left margin, 1 at the amounts' column
RECEIPT = (
    ("KEDAI BUKU MAJU SDN BHD", 0),
    ("NO 12, JALAN MAJU 3/4,", 0),
    ("43200 CHERAS, SELANGOR", 0),
    ("TEL: 03-1234 5678", 0),
    ("INVOICE NO: INV20931", 0),
    ("DATE: 21/03/2018", 0),
    ("PENCIL", 0),
    ("2.50", 1),
    ("NOTEBOOK", 0),
    ("12.00", 1),
    ("SUBTOTAL", 0),
    ("14.50", 1),
    ("TOTAL RM", 0),
    ("15.40", 1),
    ("CASH", 0),
    ("20.00", 1),
    ("CHANGE", 0),
    ("4.60", 1),
)
RECEIPT_FIELDS = {
    "company": "KEDAI BUKU MAJU SDN BHD",
    "address": "NO 12, JALAN MAJU 3/4, 43200 CHERAS, SELANGOR",
    "date": "21/03/2018",
    "total": "15.40",
}
FORM = (
    ("Date: 3/15/88", 0),
    ("Name: JOHN SMITH", 0),
    ("Brand", 0),
    ("PHOENIX 100", 1),
    ("Remarks:", 0),
    ("SHIP BY TRUCK", 0),
)
FORM_PAIRS = [("Date:", "3/15/88"), ("Name:", "JOHN SMITH"), ("Brand", "PHOENIX 100"), ("Remarks:", "SHIP BY TRUCK")]


@lru_cache(None)
def page(items: tuple[tuple[str, int], ...]) -> bytes:
    """A white page with the items printed row by row; an item in column 1 shares the row before it."""
    rows: list[list[tuple[str, int]]] = []
    for text, column in items:
        if column and rows:
            rows[-1].append((text, column))
        else:
            rows.append([(text, column)])
    image = np.full((LINE * (len(rows) + 1), 820, 3), 255, np.uint8)
    for k, row in enumerate(rows):
        for text, column in row:
            cv2.putText(
                image,
                text,
                (30 + 480 * column, LINE * (k + 1)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.95,
                (0, 0, 0),
                2,
                cv2.LINE_AA,
            )
    return cv2.imencode(".png", image)[1].tobytes()
