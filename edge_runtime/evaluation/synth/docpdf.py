"""The synthetic documents as PDF files: born-digital (real text in embedded fonts, vector figures, drawn in reading
order as a typesetter would) and scanned (one JPEG per page, nothing else), both written byte-identically."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pikepdf

from edge_runtime.evaluation.synth.docpages import Page
from edge_runtime.evaluation.synth.pdffonts import embed
from edge_runtime.evaluation.synth.typeset import Shape

__all__ = ["born_digital", "scanned"]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _shape(shape: Shape, height: float) -> str:
    ops = ["q"]
    if shape.fill is not None:
        ops.append(f"{shape.fill:.3f} g")
    if shape.stroke is not None:
        ops.append(f"{shape.stroke:.3f} G {shape.width:.2f} w")
    if shape.rect:
        (x0, y0), (x1, y1) = shape.points
        ops.append(f"{x0:.2f} {height - y1:.2f} {x1 - x0:.2f} {y1 - y0:.2f} re")
    else:
        (x, y), *rest = shape.points
        ops.append(f"{x:.2f} {height - y:.2f} m " + " ".join(f"{a:.2f} {height - b:.2f} l" for a, b in rest))
    paint = "B" if shape.fill is not None and shape.stroke is not None else "f" if shape.fill is not None else "S"
    ops += [paint, "Q"]
    return " ".join(ops)


def _save(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out, deterministic_id=True, compress_streams=True)  # the /ID from the content, not the clock
    return out.getvalue()


def born_digital(pages: Sequence[Page]) -> bytes:
    """A PDF whose pages draw the composed text with their fonts (extractable, as typeset) and the figures; the
    lines in reading order, or top to bottom across the columns where the page's ``stream`` says "rows"."""
    pdf = pikepdf.new()
    names: dict[str, str] = {}
    fonts = pikepdf.Dictionary()
    for page in pages:
        for run in (r for b in page.blocks for r in b.runs):
            if run.font not in names:
                names[run.font] = f"F{len(names) + 1}"
                fonts[f"/{names[run.font]}"] = embed(pdf, run.font)
    for page in pages:
        ops = [_shape(s, page.height) for s in page.shapes]
        ops.append("BT 0.08 g")
        runs = [r for b in page.blocks for r in b.runs]
        if page.stream == "rows":  # as some producers draw: each baseline across the page, columns interleaved
            runs.sort(key=lambda r: (round(r.baseline, 1), r.x))
        for run in runs:
            ops.append(
                f"/{names[run.font]} {run.size:.3f} Tf {run.spacing:.4f} Tw "
                f"1 0 0 1 {run.x:.3f} {page.height - run.baseline:.3f} Tm ({_escape(run.text)}) Tj"
            )
        ops.append("ET")
        contents = pikepdf.Stream(pdf, "\n".join(ops).encode("latin-1"))
        pdf.pages.append(
            pikepdf.Page(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Page,
                    MediaBox=[0, 0, page.width, page.height],
                    Resources=pikepdf.Dictionary(Font=fonts),
                    Contents=contents,
                )
            )
        )
    return _save(pdf)


def scanned(jpegs: Sequence[tuple[bytes, int, int]], dpi: float) -> bytes:
    """An image-only PDF: each (grey JPEG, width, height) embedded unchanged as one page at ``dpi``."""
    pdf = pikepdf.new()
    for data, width, height in jpegs:
        image = pikepdf.Stream(pdf, data)
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height = width, height
        image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceGray, 8
        image.Filter = pikepdf.Name.DCTDecode
        w_pt, h_pt = width * 72.0 / dpi, height * 72.0 / dpi
        pdf.pages.append(
            pikepdf.Page(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Page,
                    MediaBox=[0, 0, round(w_pt, 3), round(h_pt, 3)],
                    Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
                    Contents=pikepdf.Stream(pdf, f"q {w_pt:.3f} 0 0 {h_pt:.3f} 0 0 cm /Im0 Do Q".encode()),
                )
            )
        )
    return _save(pdf)
