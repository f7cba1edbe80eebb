"""Decoding untrusted input: every bad input raises InvalidImageError with a reason; odd good ones decode right."""

from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from edge_runtime.errors import InvalidImageError
from edge_runtime.imageio import decode_image, decode_raw, validate_array
from tests import rendered


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (16, 16)).save(buf, format="GIF")
    return buf.getvalue()


def _png(arr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return rendered.page()


def _big_header_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but carries almost no data (a decompression bomb's shape)."""
    img = Image.new("L", (1, 1))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:20] = width.to_bytes(4, "big")
    data[20:24] = height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # IHDR chunk CRC
    return bytes(data)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "IMAGE_EMPTY"),
        (b"\x00" * 100, "IMAGE_UNDECODABLE"),
        (b"hello, this is plainly text and not an image" * 10, "IMAGE_UNDECODABLE"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj", "IMAGE_UNDECODABLE"),
        (_gif(), "IMAGE_FORMAT_UNSUPPORTED"),
    ],
)
def test_non_images_raise_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImageError) as err:
        decode_image(data)
    assert err.value.reason == reason


def test_truncated_png_and_jpeg(page) -> None:
    png = _png(page)
    ok, jpg = cv2.imencode(".jpg", page)
    for data in (png[: len(png) // 2], jpg.tobytes()[: len(jpg) // 3], png[:40]):
        with pytest.raises(InvalidImageError) as err:
            decode_image(data)
        assert err.value.reason in ("IMAGE_CORRUPT", "IMAGE_UNDECODABLE")


def test_gigantic_dimensions_refused_before_decoding() -> None:
    for w, h in ((100_000, 100_000), (100_000, 1), (65_535, 65_535)):
        with pytest.raises(InvalidImageError) as err:
            decode_image(_big_header_png(w, h), max_pixels=40_000_000)
        assert err.value.reason in ("IMAGE_TOO_LARGE", "IMAGE_TOO_SMALL")
    with pytest.raises(InvalidImageError) as err:
        decode_image(_big_header_png(9_000, 9_000), max_pixels=40_000_000)
    assert err.value.reason == "IMAGE_TOO_LARGE"


def test_zero_sized_and_tiny() -> None:
    with pytest.raises(InvalidImageError) as err:
        decode_image(_png(np.zeros((1, 1, 3), np.uint8)))
    assert err.value.reason == "IMAGE_TOO_SMALL"
    with pytest.raises(InvalidImageError) as err:
        validate_array(np.zeros((0, 10, 3), np.uint8))
    assert err.value.reason == "IMAGE_EMPTY"
    with pytest.raises(InvalidImageError) as err:
        decode_image(_big_header_png(0, 10))
    assert err.value.reason in ("IMAGE_EMPTY", "IMAGE_CORRUPT", "IMAGE_UNDECODABLE")


def test_grayscale_rgba_and_16bit_decode_like_8bit_bgr(page) -> None:
    gray = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    expected = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(decode_image(_png(gray)), expected)
    assert np.array_equal(decode_image(_png(gray.astype(np.uint16) * 257)), expected)
    bgr16 = page.astype(np.uint16) * 257
    assert np.abs(decode_image(_png(bgr16)).astype(int) - page.astype(int)).max() <= 1
    # RGBA: text opaque, background transparent black -> shown on white
    rgba = np.zeros(page.shape[:2] + (4,), np.uint8)
    ink = gray < 128
    rgba[ink, 3] = 255
    decoded = decode_image(_png(rgba))
    assert decoded[~ink].min() == 255 and decoded[ink].max() == 0


def test_exif_orientation_applied(page) -> None:
    upright = Image.fromarray(cv2.cvtColor(page, cv2.COLOR_BGR2RGB))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a phone sensor wrote
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", exif=exif, quality=95)
    decoded = decode_image(buf.getvalue())
    assert decoded.shape[:2] == page.shape[:2]
    assert np.abs(decoded.astype(int) - page.astype(int)).mean() < 6


def test_webp_tiff_bmp(page) -> None:
    for ext in (".webp", ".tiff", ".bmp"):
        ok, buf = cv2.imencode(ext, page)
        assert ok
        assert decode_image(buf.tobytes()).shape == page.shape


def test_raw_formats(page) -> None:
    h, w = page.shape[:2]
    assert np.array_equal(decode_raw(page.tobytes(), w, h, "BGR8"), page)
    assert np.array_equal(decode_raw(page[:, :, ::-1].tobytes(), w, h, "RGB8"), page)
    yuv = cv2.cvtColor(page[: h // 2 * 2, : w // 2 * 2], cv2.COLOR_BGR2YUV_I420)
    assert decode_raw(yuv.tobytes(), w // 2 * 2, h // 2 * 2, "NV12").shape == (h // 2 * 2, w // 2 * 2, 3)
    for data, width, height, fmt, reason in [
        (page.tobytes()[:-1], w, h, "BGR8", "RAW_SIZE_MISMATCH"),
        (page.tobytes(), w, h, "YUYV", "RAW_FORMAT_UNSUPPORTED"),
        (b"", 0, 0, "GRAY8", "IMAGE_EMPTY"),
        (b"\x00" * 100_000, 100_000, 1, "GRAY8", "IMAGE_TOO_SMALL"),
    ]:
        with pytest.raises(InvalidImageError) as err:
            decode_raw(data, width, height, fmt)
        assert err.value.reason == reason
