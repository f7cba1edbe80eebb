"""The invisible text layer's font: a glyphless TrueType font whose every character is the same box half an em
wide, embedded as a CID font (Identity-H) with a ToUnicode map, so any Unicode text can be placed and extracted.

The approach of Tesseract's and OCRmyPDF's GlyphLessFont: a standard font (Helvetica) covers only WinAnsi
characters, and embedding a real font with all the glyphs the pages use would cost megabytes for text nobody sees.
Each character's code is its UTF-16 code unit, so the same two bytes are the glyph selector and, through the
ToUnicode map, the text that viewers search and copy.
"""

from __future__ import annotations

import functools
import io
import zlib

import pikepdf
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

__all__ = ["ADVANCE", "font", "encode"]

ADVANCE = 0.5  # every character's advance width, in em: the writer scales words with Tz to their boxes
_UNITS = 1000
_NAME = "GlyphLessFont"


@functools.lru_cache(maxsize=1)
def _font_program() -> bytes:
    """A TrueType font of two glyphs (an empty .notdef and the one every code maps to), one em ascent, no descent."""
    builder = FontBuilder(_UNITS, isTTF=True)
    builder.updateHead(created=0, modified=0)  # not the time of the run: the same pages give the same PDF bytes
    builder.setupGlyphOrder([".notdef", "glyph1"])
    builder.setupCharacterMap({})
    advance = int(ADVANCE * _UNITS)
    # glyph1 outlines its whole cell: never painted (render mode 3), but a glyph with no outline has no box, and
    # pypdfium2/pdfium drop a one-character word whose box is empty from the extracted text.
    pen = TTGlyphPen(None)
    pen.moveTo((0, 0))
    pen.lineTo((0, _UNITS))
    pen.lineTo((advance, _UNITS))
    pen.lineTo((advance, 0))
    pen.closePath()
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "glyph1": pen.glyph()})
    builder.setupHorizontalMetrics({".notdef": (advance, 0), "glyph1": (advance, 0)})
    builder.setupHorizontalHeader(ascent=_UNITS, descent=0)
    builder.setupNameTable({"familyName": _NAME, "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=_UNITS, sTypoDescender=0, usWinAscent=_UNITS, usWinDescent=0)
    builder.setupPost()
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


def _to_unicode() -> bytes:
    """A CMap from each 2-byte code to the same UTF-16 code unit (256 ranges: a bfrange may not cross a byte)."""
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256)]
    chunks = [ranges[i : i + 100] for i in range(0, 256, 100)]  # at most 100 entries per section
    body = "".join(f"{len(c)} beginbfrange\n" + "\n".join(c) + "\nendbfrange\n" for c in chunks)
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        f"{body}endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def font(pdf: pikepdf.Pdf) -> pikepdf.Object:
    """The font's Type0 dictionary, made indirect in ``pdf`` (add it once and share it among the pages)."""
    program = _font_program()
    descriptor = pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor,
        FontName=pikepdf.Name("/" + _NAME),
        Flags=5,  # fixed pitch, symbolic
        FontBBox=[0, 0, int(ADVANCE * _UNITS), _UNITS],
        ItalicAngle=0,
        Ascent=_UNITS,
        Descent=0,
        CapHeight=_UNITS,
        StemV=80,
        FontFile2=pikepdf.Stream(pdf, program, Length1=len(program)),
    )
    # Every code to glyph 1: a glyph that exists, whatever the code (PDF/A checks that used glyphs exist).
    gid_map = pikepdf.Stream(pdf, zlib.compress(b"\x00\x01" * 65536, 9), Filter=pikepdf.Name.FlateDecode)
    cid_font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.CIDFontType2,
        BaseFont=pikepdf.Name("/" + _NAME),
        CIDSystemInfo=pikepdf.Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=int(ADVANCE * _UNITS),
        CIDToGIDMap=gid_map,
    )
    type0 = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.Type0,
        BaseFont=pikepdf.Name("/" + _NAME),
        Encoding=pikepdf.Name("/Identity-H"),
        DescendantFonts=[pdf.make_indirect(cid_font)],
        ToUnicode=pikepdf.Stream(pdf, _to_unicode()),
    )
    return pdf.make_indirect(type0)


def encode(text: str) -> tuple[str, int]:
    """``text`` as a PDF hex string of 2-byte codes (its UTF-16 code units), and how many codes it holds."""
    data = text.encode("utf-16-be")
    return "<" + data.hex().upper() + ">", len(data) // 2
