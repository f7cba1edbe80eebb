"""Peer systems as ``recognize_fn`` adapters, so bench figures put our engine next to what we compare with.

Peers are imported only when asked for: RapidOCR and faster-paddle are bench/test dependencies
(requirements-dev.txt, exact pins), never runtime ones. A peer whose package is absent is reported by
``missing_peers`` with the reason, so a bench run lists it as missing instead of crashing.

Where their models come from (checked for the pinned versions): RapidOCR 3.10's wheel ships its PP-OCRv4/v6 ONNX
files inside the package (no download for the defaults used here); faster-paddle 1.0.4 embeds its tiny and small
PP-OCRv6 models inside its compiled extension (``faster_paddle.abi3.so``; only ``medium`` is downloaded, and we do
not use it), so no peer reaches a model hub during a bench run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_runtime.evaluation.accuracy import RecognizeFn
from edge_runtime.evaluation.metrics import Prediction as Line

__all__ = ["PEERS", "rapidocr_recognizer", "faster_paddle_recognizer", "peer_recognizer", "missing_peers"]


def rapidocr_engine(openvino: bool = False) -> Any:
    """RapidOCR 3.10, defaults or with ``engine_type: openvino`` for det, cls and rec (the one switch a user
    who wants speed flips; OpenVINO then picks its own precision for the CPU)."""
    from rapidocr import EngineType, RapidOCR

    params = {f"{s}.engine_type": EngineType.OPENVINO for s in ("Det", "Cls", "Rec")} if openvino else None
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)  # one INFO line per model load otherwise
    engine = RapidOCR(params=params)
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return engine


def rapidocr_recognizer(openvino: bool = False) -> RecognizeFn:
    """RapidOCR 3.10 with its default settings (PP-OCRv6 small, angle classifier on, ONNX Runtime FP32).

    ``skip_detection=True`` calls it with ``use_det=False, use_cls=False``: the whole image is one line,
    recognition only. That is how BASELINES.md's crop figures were measured (checked: rec_icdar15_words
    gives 0.7575 so, 0.73 with the angle classifier on). Its own image loading is part of every call.
    """
    engine = rapidocr_engine(openvino)

    def recognize(image: Path, skip_detection: bool) -> list[Line]:
        result = engine(str(image), use_det=not skip_detection, use_cls=not skip_detection)
        texts = getattr(result, "txts", None) or ()
        boxes = getattr(result, "boxes", None)
        if skip_detection or boxes is None:
            return [(t, None) for t in texts if t.strip()]
        return [
            (t, tuple((float(x), float(y)) for x, y in box)) for t, box in zip(texts, boxes, strict=True) if t.strip()
        ]

    return recognize


def faster_paddle_engine(size: str) -> Any:
    """faster-paddle 1.0.4 (PP-OCRv6 ``tiny`` or ``small``, Rust over its own linked ONNX Runtime)."""
    from faster_paddle import OcrEngine

    return OcrEngine(model_size=size)


def faster_paddle_lines(result: dict[str, Any]) -> list[Line]:
    """Its ``bounds`` are axis-aligned (top-left, bottom-right); we give the metric the four corners."""
    lines: list[Line] = []
    for _, b in sorted(result.get("bounds", {}).items()):
        text = str(b.get("text", ""))
        if text.strip():
            (x0, y0), (x1, y1) = b["topLeftCoord"], b["bottomRightCoord"]
            lines.append(
                (text, ((float(x0), float(y0)), (float(x1), float(y0)), (float(x1), float(y1)), (float(x0), float(y1))))
            )
    return lines


def faster_paddle_recognizer(size: str) -> RecognizeFn:
    """faster-paddle has no recognition-only call: crops go through its detector too (box dropped then)."""
    engine = faster_paddle_engine(size)

    def recognize(image: Path, skip_detection: bool) -> list[Line]:
        lines = faster_paddle_lines(engine.ocr(image.read_bytes()))
        if skip_detection:
            return [(" ".join(t for t, _ in lines), None)] if lines else []
        return lines

    return recognize


PEERS: dict[str, Callable[[], RecognizeFn]] = {
    "rapidocr": rapidocr_recognizer,
    "rapidocr-openvino": lambda: rapidocr_recognizer(openvino=True),
    "faster-paddle-small": lambda: faster_paddle_recognizer("small"),
    "faster-paddle-tiny": lambda: faster_paddle_recognizer("tiny"),
}
_PACKAGES = {
    "rapidocr": "rapidocr",
    "rapidocr-openvino": "rapidocr",
    "faster-paddle-small": "faster_paddle",
    "faster-paddle-tiny": "faster_paddle",
}


def missing_peers(names: list[str] | None = None) -> dict[str, str]:
    """Peer name -> why it cannot run here (its package fails to import); empty when all can."""
    import importlib

    missing = {}
    for name in names or list(PEERS):
        try:
            importlib.import_module(_PACKAGES[name])
        except Exception as exc:  # ImportError, or a native library that fails to load
            missing[name] = f"{_PACKAGES[name]} not importable: {type(exc).__name__}: {exc}"
    return missing


def peer_recognizer(name: str) -> RecognizeFn:
    try:
        return PEERS[name]()
    except KeyError:
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}") from None
