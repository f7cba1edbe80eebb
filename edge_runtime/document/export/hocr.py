"""hOCR 1.2: the pages as XHTML with ``ocr_page``, ``ocr_carea``, ``ocr_par``, ``ocr_line`` and ``ocrx_word``
elements, each with its ``bbox``; words with ``x_wconf``, pages with ``ppageno`` and ``image``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from edge_runtime.document.export.common import box, outline, xml_attr, xml_text
from edge_runtime.document.structure import Block, BlockKind, DocLine, Page, Paragraph
from edge_runtime.types import Point

__all__ = ["to_hocr", "SYSTEM"]

SYSTEM = "edge-ocr"
# Every class and property this writer can write, as the spec asks ocr-capabilities to list them.
CAPABILITIES = "ocr_page ocr_carea ocr_header ocr_footer ocr_pageno ocr_par ocr_line ocrx_word ocrp_wconf"
# Running headers, footers and page numbers are the spec's own float elements in place of ocr_carea, so a reader
# of the flow can skip them; every other block is an ocr_carea.
_BLOCK_CLASS = {BlockKind.HEADER: "ocr_header", BlockKind.FOOTER: "ocr_footer", BlockKind.PAGE_NUMBER: "ocr_pageno"}

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
 <head>
  <title>{title}</title>
  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
  <meta name="ocr-system" content="{system}"/>
  <meta name="ocr-capabilities" content="{capabilities}"/>
 </head>
 <body>
"""


def to_hocr(pages: Iterable[Page], image: str | Sequence[str] = "", title: str = "") -> str:
    """The pages as one hOCR document. ``image`` names the page images (one name for all pages, e.g. the input
    file, or one per page); an empty name leaves the ``image`` property out."""
    out = [_HEAD.format(title=xml_text(title), system=SYSTEM, capabilities=CAPABILITIES)]
    for index, page in enumerate(pages):
        name = image if isinstance(image, str) else image[index]
        out.extend(_page(page, name))
    out.append(" </body>\n</html>\n")
    return "".join(out)


def _title(polygon: tuple[Point, ...], *props: str) -> str:
    x0, y0, x1, y1 = box(polygon)
    return xml_attr("; ".join([f"bbox {x0} {y0} {x1} {y1}", *props]))


def _page(page: Page, image: str) -> list[str]:
    n = page.number
    props = [f'image "{image.replace(chr(34), "")}"'] if image else []  # the spec's quoted string has no escape
    props += [f"bbox 0 0 {page.width} {page.height}", f"ppageno {n - 1}"]  # ppageno counts from 0, as Tesseract's
    if page.dpi:
        props.append(f"scan_res {round(page.dpi)} {round(page.dpi)}")
    out = [f'  <div class="ocr_page" id="page_{n}" title={xml_attr("; ".join(props))}>\n']
    for b, block in enumerate(page.blocks, 1):
        out.extend(_block(block, f"{n}_{b}"))
    out.append("  </div>\n")
    return out


def _block(block: Block, ident: str) -> list[str]:
    kind = _BLOCK_CLASS.get(block.kind, "ocr_carea")
    out = [f'   <div class="{kind}" id="block_{ident}" title={_title(outline(block))}>\n']
    for p, paragraph in enumerate(block.paragraphs, 1):
        out.extend(_paragraph(paragraph, f"{ident}_{p}"))
    out.append("   </div>\n")
    return out


def _paragraph(paragraph: Paragraph, ident: str) -> list[str]:
    out = [f'    <p class="ocr_par" id="par_{ident}" title={_title(outline(paragraph))}>\n']
    for i, line in enumerate(paragraph.lines, 1):
        out.append(_line(line, f"{ident}_{i}"))
    out.append("    </p>\n")
    return out


def _line(line: DocLine, ident: str) -> str:
    # No baseline property: a line's polygon bottom is its descenders' edge, not the baseline the spec means.
    # textangle turns counterclockwise (as Tesseract writes it and OCRmyPDF reads it); line.angle turns clockwise.
    props = [f"textangle {(360 - line.angle) % 360}"] if line.angle else []
    words = []
    for w, word in enumerate(line.words, 1):
        conf = f"x_wconf {round(max(0.0, min(1.0, word.confidence)) * 100)}"
        words.append(
            f'<span class="ocrx_word" id="word_{ident}_{w}" title={_title(word.polygon, conf)}>'
            f"{xml_text(word.text)}</span>"
        )
    head = f'     <span class="ocr_line" id="line_{ident}" title={_title(outline(line), *props)}>'
    return head + " ".join(words) + "</span>\n"
