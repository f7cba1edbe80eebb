"""What serves and what is being prepared: filled by ``server.models_watch`` and ``server.optimizer``, read at any
time by GetServerInfo and the metrics (plain values: no lock needed for a reader that may see one update late)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["ModelStatus", "OptimizeStatus", "OPTIMIZE_STATES"]

OPTIMIZE_STATES = ("off", "checking", "up_to_date", "building", "published", "failed")


@dataclass
class OptimizeStatus:
    """The background build and gate of this host's INT8/BF16 candidates (``server.optimizer``)."""

    state: str = "off"  # off, checking, up_to_date, building, published, failed
    backend: str = ""
    progress: float = 0.0  # 0..1 of the build's expected work
    phase: str = ""  # e.g. "calibration", "openvino gate"
    eta_s: float = 0.0  # estimated seconds left (0: unknown)
    detail: str = ""  # in words: why this state, the last line of a failed build


@dataclass
class ModelStatus:
    """What serves and how it got there (read by GetServerInfo and the metrics at any time)."""

    generation: int = 0
    serving_since: datetime | None = None  # when the serving models were swapped in (None: loaded at start)
    last_change: str = ""  # in words: the last change made or refused
    last_error_reason: str = ""  # stable reason of the last refused change ("" after a good one)
    changes: dict[str, int] = field(default_factory=lambda: {"swapped": 0, "refused": 0})
    optimize: OptimizeStatus = field(default_factory=OptimizeStatus)
