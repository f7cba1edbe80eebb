"""Test documents made here, with pikepdf and Pillow (no downloads): PDF pages with real text in a standard font,
with a rendered "scan" image, with both, with an invisible OCR layer; encrypted; multi-frame TIFFs."""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import pikepdf
from PIL import Image, ImageDraw

from edge_runtime.evaluation.synth.fonts import font


@dataclass(frozen=True)
class Text:
    """A run of text drawn at (x, y) points from the page's bottom-left, in Helvetica at ``size`` points."""

    text: str
    x: float
    y: float
    size: float = 12.0
    render_mode: int = 0  # 3: invisible


@dataclass(frozen=True)
class Picture:
    """An image placed with its bottom-left at (x, y) points, ``width`` x ``height`` points large."""

    image: Image.Image
    x: float
    y: float
    width: float
    height: float


def scan(words: str, size: tuple[int, int] = (800, 200), font_px: int = 48) -> Image.Image:
    """A white "scan" with ``words`` printed in DejaVu Sans: what OCR, not a text layer, must read."""
    image = Image.new("RGB", size, "white")
    face = font("DejaVuSans.ttf", font_px)
    ImageDraw.Draw(image).text((20, (size[1] - font_px) // 2), words, fill="black", font=face)
    return image


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(
    pages: Sequence[Sequence[Text | Picture]],
    media_box: tuple[float, float] = (612.0, 792.0),
    rotate: int = 0,
) -> bytes:
    """A PDF of ``pages``, each a list of text runs and pictures, on Letter pages unless ``media_box`` says."""
    pdf = pikepdf.new()
    helvetica = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type1,
            BaseFont=pikepdf.Name.Helvetica,
            Encoding=pikepdf.Name.WinAnsiEncoding,
        )
    )
    for items in pages:
        ops: list[str] = []
        xobjects = pikepdf.Dictionary()
        for i, item in enumerate(items):
            if isinstance(item, Text):
                ops.append(
                    f"BT /F1 {item.size} Tf {item.render_mode} Tr {item.x} {item.y} Td ({_escape(item.text)}) Tj ET"
                )
            else:
                rgb = item.image.convert("RGB")
                stream = pikepdf.Stream(pdf, rgb.tobytes())
                stream.Type = pikepdf.Name.XObject
                stream.Subtype = pikepdf.Name.Image
                stream.Width, stream.Height = rgb.width, rgb.height
                stream.ColorSpace = pikepdf.Name.DeviceRGB
                stream.BitsPerComponent = 8
                xobjects[f"/Im{i}"] = stream
                ops.append(f"q {item.width} 0 0 {item.height} {item.x} {item.y} cm /Im{i} Do Q")
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, media_box[0], media_box[1]],
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=helvetica), XObject=xobjects),
            Contents=pikepdf.Stream(pdf, "\n".join(ops).encode("latin-1")),
        )
        if rotate:
            page.Rotate = rotate
        pdf.pages.append(pikepdf.Page(page))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def encrypt(data: bytes, user: str, owner: str = "owner-secret") -> bytes:
    """``data`` saved again with AES-256 encryption that needs ``user`` (or ``owner``) to open."""
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user=user, owner=owner, R=6))
    return out.getvalue()


def tiff(frames: list[Image.Image]) -> bytes:
    """A multi-page TIFF, one frame per image."""
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    return out.getvalue()


def ifd_chain_tiff(frames: int) -> bytes:
    """A TIFF of ``frames`` 1x1 gray frames written by hand (Pillow takes minutes for 10,000): a chain of IFDs
    that all share one strip, the shape of a frame-count bomb."""
    entries = 9
    ifd_size = 2 + entries * 12 + 4
    strip = 8
    first = strip + 2  # the one-byte strip, padded to a word boundary
    out = bytearray(b"II*\x00" + first.to_bytes(4, "little") + b"\x80\x00")
    for i in range(frames):
        following = first + (i + 1) * ifd_size if i + 1 < frames else 0
        out += entries.to_bytes(2, "little")
        for tag, kind, value in (
            (256, 3, 1),  # ImageWidth
            (257, 3, 1),  # ImageLength
            (258, 3, 8),  # BitsPerSample
            (259, 3, 1),  # Compression: none
            (262, 3, 1),  # PhotometricInterpretation: black is zero
            (273, 4, strip),  # StripOffsets
            (277, 3, 1),  # SamplesPerPixel
            (278, 3, 1),  # RowsPerStrip
            (279, 4, 1),  # StripByteCounts
        ):
            out += tag.to_bytes(2, "little") + kind.to_bytes(2, "little") + (1).to_bytes(4, "little")
            out += value.to_bytes(4, "little")
        out += following.to_bytes(4, "little")
    return bytes(out)


def raw_pdf(page_extra: bytes = b"", contents: tuple[bytes, ...] = (b"BT /F1 12 Tf 72 700 Td (Hi) Tj ET",)) -> bytes:
    """A one-page PDF written byte by byte (for what pikepdf would refuse to write or would tidy away): the page
    dictionary gets ``page_extra``; each of ``contents`` is a content stream, Flate-compressed when it starts with
    the zlib header byte 0x78, raw otherwise."""
    streams = []
    for body in contents:
        flate = b" /Filter /FlateDecode" if body[:1] == b"\x78" else b""
        streams.append(b"<< /Length %d%s >>\nstream\n" % (len(body), flate) + body + b"\nendstream")
    refs = b" ".join(b"%d 0 R" % (4 + i) for i in range(len(streams)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [" + refs + b"] " + page_extra + b" >>",
        *streams,
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def flate_of_spaces(size: int) -> bytes:
    """``size`` spaces, Flate-compressed: about a thousandth of the size (a content-stream "zip bomb")."""
    compressor = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    whole, rest = divmod(size, len(chunk))
    body = b"".join(compressor.compress(chunk) for _ in range(whole)) + compressor.compress(b" " * rest)
    return body + compressor.flush()
