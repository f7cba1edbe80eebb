"""Pages for the writer tests: text rendered with a DejaVu font, and the structure that says where each word is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.document.structure import Block, BlockKind, Break, DocLine, DocWord, Page, Paragraph, bbox_of
from edge_runtime.evaluation.synth.fonts import font
from edge_runtime.types import Point


@dataclass(frozen=True)
class Spec:
    """A block to render: its kind and its paragraphs, each a list of lines (a line ending in "-" followed by
    another line of its paragraph breaks a word)."""

    kind: BlockKind
    paragraphs: list[list[str]]
    size: int = 28


def _rect(x0: float, y0: float, x1: float, y1: float) -> tuple[Point, ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def render(specs: list[Spec], number: int = 1, width: int = 1240, height: int = 1754) -> tuple[np.ndarray, Page]:
    """A white page with the blocks top to bottom, as a BGR image and the Page structure of what was drawn."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    y = 60.0
    blocks = []
    for spec in specs:
        face = font("DejaVuSans.ttf", spec.size)
        if spec.kind is BlockKind.FOOTER or spec.kind is BlockKind.PAGE_NUMBER:
            y = max(y, height - 120.0)
        paragraphs = []
        for lines in spec.paragraphs:
            doc_lines = []
            for i, line in enumerate(lines):
                words = []
                x = 80.0
                tokens = line.split(" ")
                for j, token in enumerate(tokens):
                    draw.text((x, y), token, font=face, fill="black")
                    x0, y0, x1, y1 = draw.textbbox((x, y), token, font=face)
                    last_line = i == len(lines) - 1
                    if j < len(tokens) - 1:
                        brk = Break.SPACE
                    elif not last_line:
                        brk = Break.HYPHEN if token.endswith("-") else Break.LINE
                    else:
                        brk = Break.PARAGRAPH
                    words.append(DocWord(token, 0.9, _rect(x0, y0, x1, y1), brk))
                    x = x1 + face.getlength(" ")
                poly = bbox_of([w.polygon for w in words])
                doc_lines.append(DocLine(line, 0.9, poly, tuple(words)))
                y += spec.size * 1.5
            paragraphs.append(Paragraph(tuple(doc_lines), bbox_of([ln.polygon for ln in doc_lines])))
            y += spec.size
        blocks.append(Block(spec.kind, tuple(paragraphs), bbox_of([p.polygon for p in paragraphs])))
        y += spec.size
    rgb = np.asarray(image)
    return np.ascontiguousarray(rgb[:, :, ::-1]), Page(number, width, height, tuple(blocks), dpi=150.0)


ARTICLE = [
    Spec(BlockKind.HEADER, [["Journal of Edges 12"]], 20),
    Spec(BlockKind.TITLE, [["Reading order matters"]], 44),
    Spec(BlockKind.TEXT, [["The first paragraph of the body runs", "over two lines with a hyphen-", "ated word."]]),
    Spec(BlockKind.HEADING, [["Methods"]], 36),
    Spec(BlockKind.LIST, [["- scan the page", "at 300 dpi"], ["- read the lines"]]),
    Spec(BlockKind.TEXT, [["1. first step", "2. second step"], ["Costs 5 * 3 = 15 [sic] <ok>"]]),
    Spec(BlockKind.FOOTER, [["Confidential draft"]], 20),
    Spec(BlockKind.PAGE_NUMBER, [["7"]], 20),
]
