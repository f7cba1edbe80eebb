"""ALTO v4 XML: Page -> PrintSpace -> TextBlock -> TextLine -> String, with SP between words and HYP where a
word is broken across lines; running headers and footers go to the page's top and bottom margins."""

from __future__ import annotations

from collections.abc import Iterable

from edge_runtime.document.export.common import box, outline, xml_attr, xml_text
from edge_runtime.document.structure import Block, BlockKind, Break, DocLine, DocWord, Page
from edge_runtime.types import Point

__all__ = ["to_alto", "NAMESPACE", "SCHEMA"]

NAMESPACE = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA = "http://www.loc.gov/alto/v4/alto-4-2.xsd"
SOFTWARE = "edge-ocr"

_HEAD = f"""<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="{NAMESPACE}" xmlns:xlink="http://www.w3.org/1999/xlink"
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
      xsi:schemaLocation="{NAMESPACE} {SCHEMA}">
 <Description>
  <MeasurementUnit>pixel</MeasurementUnit>
{{source}}  <Processing ID="processing_1">
   <processingSoftware>
    <softwareName>{SOFTWARE}</softwareName>
   </processingSoftware>
  </Processing>
 </Description>
 <Layout>
"""


def to_alto(pages: Iterable[Page], image: str = "") -> str:
    """The pages as one ALTO document, coordinates in pixels of each page's image. ``image`` names the source
    file (sourceImageInformation), left out when empty."""
    source = f"  <sourceImageInformation>\n   <fileName>{xml_text(image)}</fileName>\n  </sourceImageInformation>\n"
    out = [_HEAD.format(source=source if image else "")]
    for page in pages:
        out.extend(_page(page))
    out.append(" </Layout>\n</alto>\n")
    return "".join(out)


def _pos(polygon: tuple[Point, ...]) -> str:
    x0, y0, x1, y1 = box(polygon)
    return f'HPOS="{x0}" VPOS="{y0}" WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}"'


def _page(page: Page) -> list[str]:
    n = page.number
    out = [f'  <Page ID="page_{n}" PHYSICAL_IMG_NR="{n}" WIDTH="{page.width}" HEIGHT="{page.height}">\n']
    # The schema's order: TopMargin, LeftMargin, RightMargin, BottomMargin, PrintSpace. A page number goes to the
    # margin on its side of the page.
    top = [b for b in page.blocks if _margin(b, page) == "top"]
    bottom = [b for b in page.blocks if _margin(b, page) == "bottom"]
    flow = [b for b in page.blocks if not _margin(b, page)]
    ids = {id(b): f"{n}_{i}" for i, b in enumerate(page.blocks, 1)}
    for name, blocks in (("TopMargin", top), ("BottomMargin", bottom)):
        if blocks:
            out.append(f'   <{name} ID="{name.lower()}_{n}" {_pos(_around(blocks))}>\n')
            out.extend(line for b in blocks for line in _block(b, ids[id(b)]))
            out.append(f"   </{name}>\n")
    out.append(f'   <PrintSpace ID="printspace_{n}" HPOS="0" VPOS="0" WIDTH="{page.width}" HEIGHT="{page.height}">\n')
    out.extend(line for b in flow for line in _block(b, ids[id(b)]))
    out.append("   </PrintSpace>\n  </Page>\n")
    return out


def _margin(block: Block, page: Page) -> str:
    if block.kind is BlockKind.HEADER:
        return "top"
    if block.kind is BlockKind.FOOTER:
        return "bottom"
    if block.kind is BlockKind.PAGE_NUMBER:
        _, y0, _, y1 = box(outline(block))
        return "top" if y0 + y1 < page.height else "bottom"
    return ""


def _around(blocks: list[Block]) -> tuple[Point, ...]:
    x0, y0, x1, y1 = zip(*(box(outline(b)) for b in blocks), strict=True)
    return ((min(x0), min(y0)), (max(x1), min(y0)), (max(x1), max(y1)), (min(x0), max(y1)))


def _block(block: Block, ident: str) -> list[str]:
    out = [f'    <TextBlock ID="block_{ident}" {_pos(outline(block))}>\n']
    lines = [line for paragraph in block.paragraphs for line in paragraph.lines]
    for i, line in enumerate(lines):
        # A word broken at the end of the line before: its second part, and the whole word as SUBS_CONTENT.
        before = lines[i - 1].words[-1] if i and lines[i - 1].words else None
        after = lines[i + 1].words[0] if i + 1 < len(lines) and lines[i + 1].words else None
        out.extend(_line(line, f"{ident}_{i + 1}", before, after))
    out.append("    </TextBlock>\n")
    return out


def _line(line: DocLine, ident: str, before: DocWord | None, after: DocWord | None) -> list[str]:
    y0 = box(outline(line))[1]
    out = [f'     <TextLine ID="line_{ident}" {_pos(outline(line))}>\n']
    words = line.words
    for w, word in enumerate(words):
        content, subs = word.text, ""
        if w == 0 and before is not None and before.brk is Break.HYPHEN:
            subs = f' SUBS_TYPE="HypPart2" SUBS_CONTENT={xml_attr(_joined(before, word))}'
        if w == len(words) - 1 and word.brk is Break.HYPHEN:
            content = _unhyphenated(word)
            if after is not None:
                subs = f' SUBS_TYPE="HypPart1" SUBS_CONTENT={xml_attr(_joined(word, after))}'
        wc = f"{max(0.0, min(1.0, word.confidence)):.2f}"
        attrs = f'{_pos(word.polygon)} WC="{wc}" CONTENT={xml_attr(content)}{subs}'
        out.append(f'      <String ID="word_{ident}_{w + 1}" {attrs}/>\n')
        if w + 1 < len(words):
            _, _, end, _ = box(word.polygon)
            start = box(words[w + 1].polygon)[0]
            out.append(f'      <SP HPOS="{end}" VPOS="{y0}" WIDTH="{max(0, start - end)}"/>\n')
    if words and words[-1].brk is Break.HYPHEN:
        out.append('      <HYP CONTENT="-"/>\n')
    out.append("     </TextLine>\n")
    return out


def _unhyphenated(word: DocWord) -> str:
    return word.text[:-1] if word.text.endswith("-") and len(word.text) > 1 else word.text


def _joined(first: DocWord, second: DocWord) -> str:
    return _unhyphenated(first) + second.text
