"""An OCR engine loaded at the first page that needs OCR, so reading born-digital PDFs never loads the models."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge_runtime.config import EngineConfig
from edge_runtime.document.reader import Recognizer
from edge_runtime.types import OcrResult

__all__ = ["LazyEngine"]


class LazyEngine:
    """A ``Recognizer`` that builds its engine (``OcrEngine(config)``, or ``load()``) on the first ``recognize``."""

    def __init__(self, config: EngineConfig | None = None, load: Callable[[], Recognizer] | None = None) -> None:
        self._load = load or (lambda: _engine(config or EngineConfig()))
        self._engine: Recognizer | None = None

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def recognize(self, image: np.ndarray) -> OcrResult:
        if self._engine is None:
            self._engine = self._load()
        return self._engine.recognize(image)


def _engine(config: EngineConfig) -> Recognizer:
    from edge_runtime.pipeline import OcrEngine  # imported here: loading the backends costs seconds

    return OcrEngine(config)
