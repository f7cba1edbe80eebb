"""Peer systems as ``recognize_fn`` adapters, so bench figures put our engine next to what we compare with.

The peer is imported only when asked for: RapidOCR is a bench/test dependency, never a runtime one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

__all__ = ["PEERS", "rapidocr_recognizer", "peer_recognizer"]

Line = tuple[str, "tuple[tuple[float, float], ...] | None"]
RecognizeFn = Callable[[Path, bool], list[Line]]


def rapidocr_recognizer() -> RecognizeFn:
    """RapidOCR 3.10 with its default settings (PP-OCRv6 small, angle classifier on, ONNX Runtime FP32).

    ``skip_detection=True`` calls it with ``use_det=False, use_cls=False``: the whole image is one line,
    recognition only. That is how BASELINES.md's crop figures were measured (checked: rec_icdar15_words
    gives 0.7575 so, 0.73 with the angle classifier on). Its own image loading is part of every call.
    """
    from rapidocr import RapidOCR

    engine = RapidOCR()
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)  # one INFO line per model load otherwise

    def recognize(image: Path, skip_detection: bool) -> list[Line]:
        result = engine(str(image), use_det=not skip_detection, use_cls=not skip_detection)
        texts = getattr(result, "txts", None) or ()
        boxes = getattr(result, "boxes", None)
        if skip_detection or boxes is None:
            return [(t, None) for t in texts if t.strip()]
        return [(t, tuple((float(x), float(y)) for x, y in box)) for t, box in zip(texts, boxes) if t.strip()]

    return recognize


PEERS: dict[str, Callable[[], RecognizeFn]] = {"rapidocr": rapidocr_recognizer}


def peer_recognizer(name: str) -> RecognizeFn:
    try:
        return PEERS[name]()
    except KeyError:
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}") from None
