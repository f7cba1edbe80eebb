"""Progress of ``python -m quantize`` with an estimate of the time left that holds up.

A bar that counts steps is wrong by a factor of three here: a calibration page takes a fraction of a second, one
configuration of the gate a minute or more. So each phase is weighted by the CPU time it took on the reference
host (``REFERENCE_CPU_S``, from its records' ``seconds``), the fraction done is measured in those weights, and
the time left is the time spent so far scaled by what is left: the host's own speed, measured as it goes.

Two ways to show it: a bar (tqdm) on a terminal, and in a log file or a pipe one line per change of phase and at
most one every ``LINE_EVERY_S`` seconds, ``progress 0.42 openvino gate eta 310 s`` (what ``server.optimizer``
reads), instead of carriage returns.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["REFERENCE_CPU_S", "GATE_TICKS", "Progress", "estimate_s", "parse_line"]

# CPU seconds per phase on the reference host (docs/reference-host.json: 2-core EPYC, 40 calibration pages, the
# default settings): calibration is per page, quantization per stage, the gate per backend.
REFERENCE_CPU_S = {
    "calibration_page": 19.0 / 40,
    ("openvino", "det"): 14.7,
    ("openvino", "rec"): 25.5,
    ("onnxruntime", "det"): 8.8,
    ("onnxruntime", "rec"): 9.4,
    ("openvino", "gate"): 541.9,
    ("onnxruntime", "gate"): 378.0,
}
GATE_TICKS = 4  # configurations the gate evaluates per backend, as a first guess (it tells when it needs more)
LINE_EVERY_S = 15.0


def estimate_s(pages: int, backends: Sequence[str], gate: bool, threads: int) -> float:
    """Seconds a build should take on a host like the reference one with ``threads`` busy cores (its phases do not
    use every core all the time: the reference build took 1,016 s of CPU in 622 s on 2, so threads ** 0.7)."""
    work = pages * REFERENCE_CPU_S["calibration_page"]
    for backend in backends:
        work += REFERENCE_CPU_S[(backend, "det")] + REFERENCE_CPU_S[(backend, "rec")]
        work += REFERENCE_CPU_S[(backend, "gate")] if gate else 0.0
    return work / max(1, threads) ** 0.7


def parse_line(line: str) -> tuple[float, str, float] | None:
    """(fraction, phase, seconds left or 0) from a ``progress`` line, or None for any other line."""
    parts = line.split()
    if len(parts) < 2 or parts[0] != "progress":
        return None
    try:
        fraction = float(parts[1])
    except ValueError:
        return None
    eta = 0.0
    if len(parts) >= 5 and parts[-3] == "eta":
        try:
            eta = float(parts[-2])
        except ValueError:
            eta = 0.0
        phase = " ".join(parts[2:-3])
    else:
        phase = " ".join(parts[2:])
    return fraction, phase, eta


class Progress:
    """The tqdm-like object ``quantize.build.build`` reports to (``update``, ``set_description``, ``write``,
    ``total``, ``n``), weighted as the module docstring says. ``mode``: bar, lines or none."""

    def __init__(self, mode: str, out: TextIO | None = None) -> None:
        self.mode = mode
        self.out = out or sys.stderr
        self.n = 0
        self.total = 0
        self._phase = ""
        self._plan: list[tuple[str, float]] = []  # (phase, weight) in order
        self._weights: dict[str, float] = {}
        self._steps: dict[str, int] = {}  # phase -> steps expected
        self._done: dict[str, int] = {}
        self._started = time.monotonic()
        self._printed = 0.0
        self._bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=1000, unit="‰", file=self.out, dynamic_ncols=True, delay=1.0)

    # ---- what build() calls -------------------------------------------------------------------------
    def plan(self, pages: int, backends: Sequence[str], gate: bool) -> None:
        """The phases to come and their weights (reference CPU seconds)."""
        self._steps = {"calibration": max(1, pages)}
        self._weights = {"calibration": pages * REFERENCE_CPU_S["calibration_page"]}
        for backend in backends:
            for stage in ("det", "rec"):
                self._weights[f"{backend} {stage}"] = REFERENCE_CPU_S[(backend, stage)]
                self._steps[f"{backend} {stage}"] = 1
            if gate:
                self._weights[f"{backend} gate"] = REFERENCE_CPU_S[(backend, "gate")]
                self._steps[f"{backend} gate"] = GATE_TICKS
        self._show(force=True)

    def set_description(self, text: str) -> None:
        self._phase = text
        self._show(force=True)

    def refresh(self) -> None:
        self._show()

    def update(self, steps: int = 1) -> None:
        self.n += steps
        phase = self._phase
        self._done[phase] = self._done.get(phase, 0) + steps
        if phase in self._steps and self._done[phase] > self._steps[phase]:  # the gate needed more configurations
            self._steps[phase] = self._done[phase] + 1
        self._show()

    def write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text)
        elif self.mode != "none":
            print(text, file=self.out, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the estimate -------------------------------------------------------------------------------
    @property
    def fraction(self) -> float:
        total = sum(self._weights.values())
        if total <= 0:
            return 0.0
        done = sum(
            weight * min(1.0, self._done.get(phase, 0) / self._steps.get(phase, 1))
            for phase, weight in self._weights.items()
        )
        return min(1.0, done / total)

    def eta_s(self) -> float:
        """Seconds left, from the time spent on the work done so far (0 until 2 % is done: too early to say)."""
        fraction = self.fraction
        if fraction < 0.02:
            return 0.0
        return (time.monotonic() - self._started) * (1.0 - fraction) / fraction

    def _show(self, force: bool = False) -> None:
        fraction, eta = self.fraction, self.eta_s()
        if self._bar is not None:
            self._bar.set_description(self._phase or "quantize")
            self._bar.n = int(fraction * 1000)
            self._bar.refresh()
            return
        if self.mode != "lines":
            return
        now = time.monotonic()
        if not force and now - self._printed < LINE_EVERY_S:
            return
        self._printed = now
        print(f"progress {fraction:.3f} {self._phase or 'starting'} eta {eta:.0f} s", file=self.out, flush=True)
