"""Decode untrusted image bytes or raw camera buffers into BGR uint8 arrays, or raise with a reason.

Pillow reads the header first, so a decompression bomb is refused before any pixel is allocated.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from edge_runtime.errors import InvalidImageError

__all__ = ["decode_image", "decode_raw", "validate_array", "load_image", "RAW_FORMATS"]

Image.MAX_IMAGE_PIXELS = None  # our own limit below, checked against the header, applies instead
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF", "BMP", "MPO"}  # MPO: multi-picture JPEG from phones
RAW_FORMATS = ("BGR8", "RGB8", "GRAY8", "BGRA8", "RGBA8", "NV12")


def _check_size(width: int, height: int, max_pixels: int, min_side: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImageError(f"image has zero size ({width}x{height})", "IMAGE_EMPTY")
    if width * height > max_pixels:
        raise InvalidImageError(
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}",
            "IMAGE_TOO_LARGE",
        )
    if min(width, height) < min_side:
        raise InvalidImageError(
            f"image is {width}x{height}; both sides must be at least {min_side} pixels", "IMAGE_TOO_SMALL"
        )


def _to_bgr(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.float64)  # 16/32-bit gray: rescale to 8 bits, not clip
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(arr * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if img.mode == "F":
        gray = np.clip(np.asarray(img), 0, 255).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # transparent pixels become white, as a viewer would show them on paper
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = np.asarray(img.convert("RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def decode_image(data: bytes, max_pixels: int = 40_000_000, min_side: int = 4) -> np.ndarray:
    """JPEG/PNG/WebP/TIFF/BMP bytes -> BGR uint8 (EXIF orientation applied, alpha on white, 16-bit rescaled)."""
    if not data:
        raise InvalidImageError("image content is empty", "IMAGE_EMPTY")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            if img.format not in ALLOWED_FORMATS:
                raise InvalidImageError(
                    f"image format {img.format} is not supported; send JPEG, PNG, WebP, TIFF or BMP",
                    "IMAGE_FORMAT_UNSUPPORTED",
                )
            _check_size(img.width, img.height, max_pixels, min_side)
            img.load()
            bgr = _to_bgr(ImageOps.exif_transpose(img))
    except InvalidImageError:
        raise
    except UnidentifiedImageError:
        raise InvalidImageError("content is not a recognisable image (JPEG, PNG, WebP, TIFF or BMP)") from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(f"image is corrupt or truncated: {exc}", "IMAGE_CORRUPT") from None
    except MemoryError:
        raise InvalidImageError("image needs more memory to decode than is available", "IMAGE_TOO_LARGE") from None
    return validate_array(bgr, max_pixels, min_side)


def decode_raw(
    data: bytes, width: int, height: int, pixel_format: str, max_pixels: int = 40_000_000, min_side: int = 4
) -> np.ndarray:
    """An unencoded camera buffer (row-major, no padding) -> BGR uint8."""
    pixel_format = pixel_format.upper()
    if pixel_format not in RAW_FORMATS:
        raise InvalidImageError(
            f"raw pixel format {pixel_format!r} is not one of {', '.join(RAW_FORMATS)}", "RAW_FORMAT_UNSUPPORTED"
        )
    _check_size(width, height, max_pixels, min_side)
    if pixel_format == "NV12" and (width % 2 or height % 2):
        raise InvalidImageError(f"NV12 needs even width and height, got {width}x{height}", "RAW_SIZE_MISMATCH")
    channels = {"BGR8": 3, "RGB8": 3, "GRAY8": 1, "BGRA8": 4, "RGBA8": 4}
    expected = width * height * 3 // 2 if pixel_format == "NV12" else width * height * channels[pixel_format]
    if len(data) != expected:
        raise InvalidImageError(
            f"raw {pixel_format} {width}x{height} needs {expected} bytes, got {len(data)}", "RAW_SIZE_MISMATCH"
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    if pixel_format == "NV12":
        return cv2.cvtColor(buf.reshape(height * 3 // 2, width), cv2.COLOR_YUV2BGR_NV12)
    arr = buf.reshape(height, width, channels[pixel_format]) if pixel_format != "GRAY8" else buf.reshape(height, width)
    conversion = {
        "RGB8": cv2.COLOR_RGB2BGR,
        "GRAY8": cv2.COLOR_GRAY2BGR,
        "BGRA8": cv2.COLOR_BGRA2BGR,
        "RGBA8": cv2.COLOR_RGBA2BGR,
    }
    return cv2.cvtColor(arr, conversion[pixel_format]) if pixel_format in conversion else arr.copy()


def validate_array(image: np.ndarray, max_pixels: int = 40_000_000, min_side: int = 4) -> np.ndarray:
    """Accept an in-memory image (HxW gray, HxWx3 BGR, HxWx4 BGRA; uint8 or uint16) -> BGR uint8."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise InvalidImageError("image array must be HxW or HxWxC", "IMAGE_UNDECODABLE")
    height, width = image.shape[:2]
    _check_size(width, height, max_pixels, min_side)
    if image.dtype == np.uint16:
        image = (image.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InvalidImageError(f"image array dtype {image.dtype} is not uint8 or uint16", "IMAGE_UNDECODABLE")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(height, width), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] != 3:
        raise InvalidImageError(f"image array has {image.shape[2]} channels", "IMAGE_UNDECODABLE")
    return np.ascontiguousarray(image)


def load_image(path: str | Path, max_pixels: int = 40_000_000, min_side: int = 4) -> np.ndarray:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidImageError(f"cannot read {path}: {exc.strerror}", "IMAGE_UNREADABLE") from None
    return decode_image(data, max_pixels, min_side)
