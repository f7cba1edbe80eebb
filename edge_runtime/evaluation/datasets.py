"""Load the labelled eval sets of ``shared/eval`` (one ``labels.jsonl`` per set) into typed samples.

The kind of a set follows ``shared/eval/README.md``: the name prefix ``rec_`` (word or line crops),
``page_`` (full page text), ``plates`` (detection rows in which only the plate is labelled), ``kie_`` (receipt key
fields), ``kv_`` (form key-value pairs), ``doc_`` (document pages with blocks in reading order, or multi-page PDFs
with each page's lines); any other set holds detection + recognition rows. Rows keep what the sample types do not
model (fields, pairs, blocks, pages) in ``Sample.extra``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

__all__ = ["Kind", "OCR_KINDS", "Region", "Sample", "kind_of", "list_sets", "load_set"]


class Kind(StrEnum):
    DETECTION = "detection"  # lines with quadrilaterals and text, some don't-care
    PAGE = "page"  # one full text per image
    CROP = "crop"  # one word or line per image; read without detection
    PLATE = "plate"  # detection rows, only the plate labelled
    FIELDS = "fields"  # a receipt and its key fields (extra["fields"])
    PAIRS = "pairs"  # a form and its key -> value pairs (extra["pairs"], extra["headers"])
    DOCUMENT = "document"  # a page with blocks in reading order, or a multi-page PDF (extra["pages"])


OCR_KINDS = frozenset({Kind.DETECTION, Kind.PAGE, Kind.CROP, Kind.PLATE})  # the sets the OCR figures score


@dataclass(frozen=True)
class Region:
    """One labelled quadrilateral; ``ignore`` marks a don't-care region (``###``)."""

    text: str
    points: tuple[tuple[float, float], ...]
    ignore: bool = False


@dataclass(frozen=True)
class Sample:
    """One image and its labels. ``text`` is the whole truth (page, crop, plate, or the lines joined)."""

    image: Path
    kind: Kind
    text: str
    regions: tuple[Region, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def cares(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if not r.ignore)

    @property
    def dont_care(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.ignore)


def kind_of(set_name: str) -> Kind:
    if set_name.startswith("rec_"):
        return Kind.CROP
    if set_name.startswith("page_"):
        return Kind.PAGE
    if set_name.startswith("plates"):
        return Kind.PLATE
    if set_name.startswith("kie_"):
        return Kind.FIELDS
    if set_name.startswith("kv_"):
        return Kind.PAIRS
    if set_name.startswith("doc_"):
        return Kind.DOCUMENT
    return Kind.DETECTION


def list_sets(eval_dir: Path | str) -> list[str]:
    """Names of the sets under ``eval_dir`` (folders holding a ``labels.jsonl``), sorted."""
    root = Path(eval_dir)
    return sorted(p.parent.name for p in root.glob("*/labels.jsonl"))


def _region(row: dict) -> Region:
    points = tuple((float(x), float(y)) for x, y in row["points"])
    return Region(str(row.get("text", "")), points, bool(row.get("ignore", False)))


def _document(row: dict, root: Path) -> Sample:
    """A ``doc_`` row: a page whose blocks are the truth in reading order, or a PDF whose pages carry lines."""
    extra = {k: v for k, v in row.items() if k not in ("image", "text")}
    if "blocks" in row:
        regions = tuple(_region(b) for b in row["blocks"])
        return Sample(root / row["image"], Kind.DOCUMENT, "\n\n".join(r.text for r in regions), regions, extra)
    lines = [_region(r) for page in row["pages"] for r in page["lines"]]
    return Sample(root / row["pdf"], Kind.DOCUMENT, "\n".join(r.text for r in lines if not r.ignore), (), extra)


def _sample(row: dict, root: Path, kind: Kind) -> Sample:
    if kind is Kind.DOCUMENT:
        return _document(row, root)
    image = root / row["image"]
    extra = {k: v for k, v in row.items() if k not in ("image", "text", "lines")}
    if kind is Kind.FIELDS:
        return Sample(image, kind, "\n".join(str(v) for v in row["fields"].values()), (), extra)
    if kind is Kind.PAIRS:
        text = "\n".join(f"{p['key']} {p['value']}" for p in row["pairs"])
        return Sample(image, kind, text, (), extra)
    if "lines" in row:
        regions = tuple(_region(r) for r in row["lines"])
        text = "\n".join(r.text for r in regions if not r.ignore)
        return Sample(image, kind, text, regions, extra)
    return Sample(image, kind, str(row["text"]), (), extra)


def load_set(set_name: str, eval_dir: Path | str, limit: int | None = None) -> Iterator[Sample]:
    """Samples of one set in file order (the first ``limit`` when given)."""
    root = Path(eval_dir) / set_name
    labels = root / "labels.jsonl"
    if not labels.is_file():
        raise FileNotFoundError(f"no eval set {set_name!r}: {labels} is missing")
    kind = kind_of(set_name)
    with labels.open(encoding="utf-8") as rows:
        count = 0
        for line in rows:
            if not line.strip():
                continue
            if limit is not None and count >= limit:
                return
            row = json.loads(line)
            if kind in (Kind.DETECTION, Kind.PLATE) and "lines" not in row:
                raise ValueError(f"{labels}: a {kind.value} row needs 'lines': {line[:80]}")
            yield _sample(row, root, kind)
            count += 1
