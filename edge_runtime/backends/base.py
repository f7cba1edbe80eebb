"""The session interface every backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SessionOptions:
    device: str = "cpu"
    threads: int = 1
    ov_precision_hint: str = "f32"
    streams: int = 1  # > 1: ``run_many`` spreads independent runs over this many one-thread streams


class Session(Protocol):
    """A loaded model. ``run`` is safe to call from several threads (backends serialise as needed)."""

    backend: str
    device: str
    inputs: list[str]
    outputs: list[str]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def run_many(self, feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
        """Independent runs, outputs in order; backends may run them side by side."""
        ...
