"""Small test images (from the project's own rendered sets) and hostile inputs, built in memory."""

from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from tests import rendered
from tests.conftest import data_root

__all__ = ["scene_png", "receipt_jpg", "word_pngs", "blank_png", "png_header_only", "hostile_inputs"]


def _images(set_name: str) -> list[Path]:
    """The images of one rendered set, in label order."""
    from edge_runtime.evaluation.datasets import load_set

    paths = [sample.image for sample in load_set(set_name, data_root())]
    assert paths, f"the rendered set {set_name} has no images under {data_root()}"
    return paths


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"cannot read {path}"
    return image


@lru_cache(None)
def scene_png() -> bytes:
    """A rendered street-sign scene at 640x360: a few short lines."""
    return cv2.imencode(".png", cv2.resize(_read(_images("synth_signs")[0]), (640, 360)))[1].tobytes()


@lru_cache(None)
def receipt_jpg() -> bytes:
    """The top of a rendered receipt: a dozen printed lines."""
    image = _read(_images("synth_receipts")[0])
    return cv2.imencode(".jpg", image[: min(len(image), 520)], [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


WORDS = (
    "parking",
    "FILM",
    "12:46",
    "Open",
    "NATION",
    "GRU-59",
    "GENTLE",
    "HEALTH",
    "War",
    "8139",
    "HAIR",
    "HP.75",
    "SHOW",
    "PROBLEM",
    "JOB",
    "GARDEN",
    "Total 28.68",
    "EXIT",
    "Ahmad",
    "$25.35",
)


@lru_cache(None)
def word_pngs(count: int = 16) -> tuple[bytes, ...]:
    """Clean rendered word crops of many widths as PNG, read with detection skipped."""
    assert count <= len(WORDS), f"{count} word crops wanted, {len(WORDS)} defined"
    return tuple(cv2.imencode(".png", rendered.line(word))[1].tobytes() for word in WORDS[:count])


@lru_cache(None)
def blank_png() -> bytes:
    return cv2.imencode(".png", np.full((120, 200, 3), 255, np.uint8))[1].tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int, payload: bytes = b"") -> bytes:
    """A PNG whose header claims width x height; ``payload`` is the compressed pixel data (may be tiny)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", payload) + _chunk(b"IEND", b"")


def decompression_bomb() -> bytes:
    """30000 x 30000 gray PNG (900 MP of zeros) compressed to under a megabyte."""
    width = height = 30000
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return png_header_only(width, height, b"".join(parts))


def hostile_inputs() -> dict[str, tuple[bytes, str]]:
    """name -> (encoded content, expected reason). Every one must be INVALID_ARGUMENT."""
    receipt = receipt_jpg()
    png = scene_png()
    gif = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (32, 32), "white").save(gif, format="GIF")
    return {
        "garbage": (bytes(range(256)) * 16, "IMAGE_UNDECODABLE"),
        "empty": (b"", "IMAGE_EMPTY"),
        "truncated_jpeg": (receipt[: len(receipt) // 3], "IMAGE_CORRUPT"),
        "truncated_png": (png[: len(png) // 2], "IMAGE_CORRUPT"),
        "header_only_png": (png[:40], "IMAGE_UNDECODABLE"),
        "decompression_bomb": (decompression_bomb(), "IMAGE_TOO_LARGE"),
        "huge_header": (png_header_only(1_000_000, 1_000_000), "IMAGE_TOO_LARGE"),
        "100k_by_1": (cv2.imencode(".png", np.zeros((1, 100_000), np.uint8))[1].tobytes(), "IMAGE_TOO_SMALL"),
        "gif": (gif.getvalue(), "IMAGE_FORMAT_UNSUPPORTED"),
    }
