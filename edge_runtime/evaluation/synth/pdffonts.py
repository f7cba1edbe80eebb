"""The renderer's TrueType fonts as a born-digital PDF uses them: advance widths for laying text out, and each font
subset to printable ASCII and embedded as a simple TrueType font (WinAnsiEncoding), so PDFium draws the glyphs and
extracts the text as any PDF reader would.

A simple font, not a CID font: the synthetic prose is ASCII, and a PDF reader maps WinAnsi codes to Unicode with no
ToUnicode map, the common case in real born-digital PDFs. Widths come from the font's own ``hmtx`` table (no
kerning, as a PDF ``Tj`` draws), so where the layout puts a word is where PDFium draws it.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass

import pikepdf
from fontTools import subset
from fontTools.ttLib import TTFont

from edge_runtime.evaluation.synth import fonts

__all__ = ["FIRST", "LAST", "Metrics", "metrics", "embed"]

FIRST, LAST = 32, 126  # the character codes the fonts are subset to: printable ASCII (WinAnsi = ASCII here)


@dataclass(frozen=True)
class Metrics:
    """A font's numbers in thousandths of an em, as the PDF font dictionary states them."""

    name: str  # the file in ``fonts.font_dir()``
    widths: tuple[int, ...]  # advance of each code FIRST..LAST
    ascent: int  # the typographic ascender: the top of a word's box
    descent: int  # the typographic descender (negative): the bottom of a word's box
    cap_height: int
    bbox: tuple[int, int, int, int]
    italic_angle: float
    serif: bool

    def width(self, text: str, size: float) -> float:
        """The advance of ``text`` at ``size`` points, in points."""
        return sum(self.widths[ord(ch) - FIRST] for ch in text) * size / 1000.0


@functools.cache
def _font(name: str) -> TTFont:
    return TTFont(str(fonts.font_dir() / name), recalcTimestamp=False)


@functools.cache
def metrics(name: str) -> Metrics:
    font = _font(name)
    units = font["head"].unitsPerEm
    cmap = font.getBestCmap()
    hmtx = font["hmtx"]

    def thousandths(value: float) -> int:
        return round(value * 1000 / units)

    widths = tuple(thousandths(hmtx[cmap[code]][0]) for code in range(FIRST, LAST + 1))
    os2, head = font["OS/2"], font["head"]
    return Metrics(
        name=name,
        widths=widths,
        ascent=thousandths(os2.sTypoAscender),
        descent=thousandths(os2.sTypoDescender),
        cap_height=thousandths(getattr(os2, "sCapHeight", 0) or os2.sTypoAscender),
        bbox=(thousandths(head.xMin), thousandths(head.yMin), thousandths(head.xMax), thousandths(head.yMax)),
        italic_angle=float(font["post"].italicAngle),
        serif="Serif" in name or "STIX" in name,
    )


@functools.cache
def _subset(name: str) -> bytes:
    """The font's glyphs for FIRST..LAST only (a full DejaVu is 700 KB), byte-identical on every run."""
    font = TTFont(str(fonts.font_dir() / name), recalcTimestamp=False)
    options = subset.Options()
    options.layout_features = []  # a simple font draws no ligatures or kerning
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.drop_tables += ["FFTM"]  # FontForge's timestamps: nothing a PDF reader uses
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=range(FIRST, LAST + 1))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _postscript_name(name: str) -> str:
    """``ABCDEF+DejaVuSerif``: the subset tag the PDF spec asks for, derived from the name (deterministic)."""
    base = name.removesuffix(".ttf").replace(" ", "")
    tag = "".join(chr(ord("A") + b % 26) for b in hashlib.sha256(base.encode()).digest()[:6])
    return f"{tag}+{base}"


def embed(pdf: pikepdf.Pdf, name: str) -> pikepdf.Object:
    """The font ``name`` as an indirect simple TrueType font dictionary of ``pdf`` (add once, share among pages)."""
    m = metrics(name)
    program = _subset(name)
    flags = 32 | (2 if m.serif else 0) | (64 if m.italic_angle else 0)  # nonsymbolic, serif, italic
    descriptor = pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor,
        FontName=pikepdf.Name("/" + _postscript_name(name)),
        Flags=flags,
        FontBBox=list(m.bbox),
        ItalicAngle=m.italic_angle,
        Ascent=m.ascent,
        Descent=m.descent,
        CapHeight=m.cap_height,
        StemV=80,
        FontFile2=pikepdf.Stream(pdf, program, Length1=len(program)),
    )
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.TrueType,
            BaseFont=pikepdf.Name("/" + _postscript_name(name)),
            FirstChar=FIRST,
            LastChar=LAST,
            Widths=list(m.widths),
            Encoding=pikepdf.Name.WinAnsiEncoding,
            FontDescriptor=pdf.make_indirect(descriptor),
        )
    )
