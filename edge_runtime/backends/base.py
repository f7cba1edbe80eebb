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


class Session(Protocol):
    """A loaded model. ``run`` is safe to call from several threads (backends serialise as needed)."""

    backend: str
    device: str
    inputs: list[str]
    outputs: list[str]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...
