"""Per-stage precision decision on accuracy AND speed, measured on this host (issue #10 items 1-2).

Why a library module: the gate, ``bench`` and the tests must judge with one rule. The rule:

* **Candidates** per stage: FP32 always; BF16 on OpenVINO only where the CPU has AVX-512 BF16 or AMX (elsewhere
  OpenVINO emulates it, slower than FP32, so it is skipped and recorded with that reason); INT8 where built.
* **Accuracy** per set, paired bootstrap over images: the same resample of image indices scores FP32 and the
  candidate, so the noise of *which* images were drawn cancels and only the candidate's effect remains.
  A candidate is **refused** on a set when the mean loss > threshold AND P(loss > 0) over resamples >= 0.95
  (the loss is both too large and not noise). Otherwise it is within budget.
* **Speed**: median ms on fixed inputs, candidates interleaved run by run (load from other processes hits all
  alike). Served: the fastest candidate within budget on every set; a candidate slower than FP32 is never served.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["SIGNIFICANCE", "Bootstrap", "paired_bootstrap", "refused", "candidates", "choose", "time_sessions"]

SIGNIFICANCE = 0.95  # refuse only when P(loss > 0) reaches this, and the mean loss exceeds the threshold
RESAMPLES = 2000


@dataclass(frozen=True)
class Bootstrap:
    """Loss of a candidate against FP32 on one set, in percentage points (positive = candidate worse)."""

    images: int
    mean_loss_pt: float
    low_pt: float  # 2.5 % quantile of the resampled mean loss
    high_pt: float  # 97.5 % quantile
    sd_pt: float  # bootstrap SD of the mean loss: the noise of this gate set for this metric
    p_loss: float  # fraction of resamples whose mean loss > 0

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def paired_bootstrap(base: Sequence[float], candidate: Sequence[float], resamples: int = RESAMPLES,
                     seed: int = 0) -> Bootstrap:
    """Paired bootstrap of the per-image metric (0..1, higher is better): same resampled images for both.

    Fixed seed: a rebuild on the same figures gives the same verdict, the bootstrap adds no flip of its own.
    """
    a, b = np.asarray(base, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired bootstrap needs two equal, non-empty series (got {a.shape} and {b.shape})")
    loss = (a - b) * 100.0
    idx = np.random.default_rng(seed).integers(0, loss.size, size=(resamples, loss.size))
    means = loss[idx].mean(axis=1)
    return Bootstrap(images=int(loss.size), mean_loss_pt=float(loss.mean()),
                     low_pt=float(np.quantile(means, 0.025)), high_pt=float(np.quantile(means, 0.975)),
                     sd_pt=float(means.std()), p_loss=float((means > 0).mean()))


def refused(result: Bootstrap, threshold_pt: float) -> bool:
    """Refuse when the loss is both above the threshold and significant (see the module docstring)."""
    return result.mean_loss_pt > threshold_pt and result.p_loss >= SIGNIFICANCE


def candidates(backend: str, features: Mapping[str, bool], int8_built: bool) -> dict[str, str | None]:
    """precision -> None (runnable here) or the reason it is skipped on this host."""
    bf16_hw = bool(features.get("avx512_bf16") or features.get("amx_bf16"))
    out: dict[str, str | None] = {"fp32": None}
    if backend != "openvino":
        out["bf16"] = f"skipped: no BF16 inference-precision hint on {backend}"
    elif not bf16_hw:
        out["bf16"] = "skipped: CPU has neither avx512_bf16 nor amx_bf16 (BF16 would be emulated, slower than FP32)"
    else:
        out["bf16"] = None
    out["int8"] = None if int8_built else "skipped: no INT8 artifact built"
    return out


def choose(speed_ms: Mapping[str, float], accuracy: Mapping[str, Mapping[str, Bootstrap]],
           skipped: Mapping[str, str | None], threshold_pt: float) -> tuple[str, dict[str, str]]:
    """(served precision, verdict per candidate) for one stage.

    ``speed_ms``: median ms per runnable candidate (must hold fp32); ``accuracy``: candidate -> set -> bootstrap
    of FP32 vs that candidate. Served: the fastest candidate within budget on every set and faster than FP32.
    """
    fp32 = speed_ms["fp32"]
    verdicts: dict[str, str] = {"fp32": f"baseline {fp32:.1f} ms"}
    ok = ["fp32"]
    for name, why in skipped.items():
        if name == "fp32":
            continue
        if why is not None:
            verdicts[name] = why
            continue
        ms = speed_ms.get(name)
        bad = [s for s, b in accuracy.get(name, {}).items() if refused(b, threshold_pt)]
        if ms is None or name not in accuracy:
            verdicts[name] = "skipped: not measured"
        elif bad:
            worst = max(bad, key=lambda s: accuracy[name][s].mean_loss_pt)
            b = accuracy[name][worst]
            verdicts[name] = (f"refused: {worst} loses {b.mean_loss_pt:.2f} pt (95% CI {b.low_pt:.2f}..{b.high_pt:.2f},"
                              f" P(loss>0) {b.p_loss:.2f}) > {threshold_pt} pt")
        elif ms >= fp32:
            verdicts[name] = f"not served: {ms:.1f} ms is not faster than FP32 {fp32:.1f} ms"
        else:
            verdicts[name] = f"within budget, {ms:.1f} ms ({fp32 / ms:.2f}x FP32)"
            ok.append(name)
    served = min(ok, key=lambda n: (speed_ms[n], n))
    verdicts[served] = "served: " + verdicts[served]
    return served, verdicts


def time_sessions(sessions: Mapping[str, Any], shape: Sequence[int], repeat: int) -> dict[str, float]:
    """Median ms per session (``.inputs``, ``.run(feed)``) on one fixed random input; runs interleave between
    sessions so that load from elsewhere on a shared host hits them alike. Two untimed runs each first."""
    feeds = {name: {s.inputs[0]: np.random.default_rng(0).random(shape, dtype=np.float32)}
             for name, s in sessions.items()}
    for name, session in sessions.items():
        for _ in range(2):
            session.run(feeds[name])
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(repeat):
        for name, session in sessions.items():
            t0 = time.perf_counter()
            session.run(feeds[name])
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}
