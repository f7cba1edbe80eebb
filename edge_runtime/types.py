"""Input and result types of the OCR pipeline: plain dataclasses, free of any transport."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RawImage", "Point", "Word", "TextLine", "Provenance", "OcrResult"]

Point = tuple[float, float]


@dataclass(frozen=True)
class RawImage:
    """Unencoded pixels (a camera buffer, a request's raw image): row-major, in one of imageio.RAW_FORMATS.

    Decoded (and checked against its size) only when the engine loads it, so a bad one fails that image or frame
    only.
    """

    data: bytes
    width: int
    height: int
    pixel_format: str = "BGR8"


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float
    polygon: tuple[Point, ...]


@dataclass(frozen=True)
class TextLine:
    """One detected line: text, mean character confidence, 4-point polygon clockwise from the text's top-left."""

    text: str
    confidence: float
    polygon: tuple[Point, ...]
    words: tuple[Word, ...] = ()
    angle: int = 0  # reading direction in the image, degrees: 0, 90, 180 or 270


@dataclass(frozen=True)
class Provenance:
    """What produced a result, so a number can always be traced to a model and a machine."""

    bundle: str
    backend: str
    device: str
    precision: dict[str, str] = field(default_factory=dict)  # stage -> "fp32" | "int8"


@dataclass(frozen=True)
class OcrResult:
    width: int
    height: int
    lines: tuple[TextLine, ...]
    timings_ms: dict[str, float]  # milliseconds by stage; keys: edge_runtime.stages.TIMING_FIELDS
    provenance: Provenance

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
