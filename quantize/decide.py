"""Per-stage precision decision on accuracy AND speed, measured on this host (issue #10 items 1-2).

Why a library module: the gate, ``bench`` and the tests must judge with one rule. The rule:

* **Candidates** per stage: FP32 always; BF16 on OpenVINO only where the CPU has AVX-512 BF16 or AMX (elsewhere
  OpenVINO emulates it, slower than FP32, so it is skipped and recorded with that reason); FP16 only on a GPU;
  INT8 where built.
* **Speed** first: the fastest of interleaved runs per realistic input shape, summed over shapes (load from
  other processes hits all alike and only ever adds time). A candidate must beat FP32 by ``SPEED_MARGIN`` to be
  considered at all; candidates within ``SPEED_MARGIN`` of each other count as equally fast (timing on a shared
  host moves between runs, a verdict must not).
* **Accuracy** per set, paired bootstrap over images: the same resample of image indices scores FP32 and the
  candidate, so the noise of *which* images were drawn cancels and only the candidate's effect remains.
  A candidate is **refused** on a set when the loss > threshold AND P(loss > 0) over resamples >= 0.95
  (the loss is both too large and not noise). Otherwise it is within budget.
* **Served**: the fastest candidate within budget on every set; among equally fast ones the one that loses
  least (then the higher precision). A candidate slower than FP32 is never served.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "SIGNIFICANCE",
    "SPEED_MARGIN",
    "PRECISIONS",
    "Bootstrap",
    "paired_bootstrap",
    "refused",
    "candidates",
    "speed_groups",
    "choose",
    "time_rounds",
    "time_sessions",
]

SIGNIFICANCE = 0.95  # refuse only when P(loss > 0) reaches this, and the loss exceeds the threshold
# "Faster" means at least 20 % fewer ms; closer than that is a tie. Measured on a shared 2-core host, the same
# pair's ratio moved by up to 0.2 between runs (ONNX Runtime INT8 det vs FP32: 0.99x to 1.13x; OpenVINO BF16 vs
# INT8 det: 1.00x to 1.13x), while every gain worth having was 1.4x or more: a smaller margin flips verdicts.
SPEED_MARGIN = 0.20
RESAMPLES = 2000
# highest precision first: the order ties are broken in (int8-mixed keeps part of the model in float)
PRECISIONS = ("fp32", "bf16", "fp16", "int8-mixed", "int8")


@dataclass(frozen=True)
class Bootstrap:
    """Loss of a candidate against FP32 on one set, in percentage points (positive = candidate worse)."""

    images: int
    mean_loss_pt: float  # the set's figure (FP32) minus the candidate's, on all images
    low_pt: float  # 2.5 % quantile of the resampled loss
    high_pt: float  # 97.5 % quantile
    sd_pt: float  # bootstrap SD of the loss: the noise of this gate set for this figure
    p_loss: float  # fraction of resamples whose loss > 0

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _num_den(values: Sequence[float] | Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        return a, np.ones_like(a)
    if a.ndim == 2 and a.shape[1] == 2:
        return a[:, 0], a[:, 1]
    raise ValueError(f"per-image values must be scores (n,) or (numerator, denominator) pairs (n, 2), got {a.shape}")


def paired_bootstrap(
    base: Sequence[float] | Sequence[Sequence[float]],
    candidate: Sequence[float] | Sequence[Sequence[float]],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Bootstrap:
    """Paired bootstrap of a set's figure (0..1, higher is better) from per-image values; same resampled images
    for both.

    Per-image values are scores (the figure is their mean: plate accuracy, exact match) or (numerator,
    denominator) pairs (the figure is sum/sum, a micro average: word F1 is 2*matched / (predicted + truth)).
    Fixed seed: a rebuild on the same figures gives the same verdict, the bootstrap adds no flip of its own.
    """
    (bn, bd), (cn, cd) = _num_den(base), _num_den(candidate)
    if bn.shape != cn.shape or bn.size == 0:
        raise ValueError(f"paired bootstrap needs two equal, non-empty series (got {bn.shape} and {cn.shape})")

    def figure(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.ones_like(num), where=den > 0)  # nothing to find, nothing found: 1

    idx = np.random.default_rng(seed).integers(0, bn.size, size=(resamples, bn.size))
    losses = (figure(bn[idx].sum(1), bd[idx].sum(1)) - figure(cn[idx].sum(1), cd[idx].sum(1))) * 100.0
    full = (
        float(
            figure(np.array([bn.sum()]), np.array([bd.sum()]))[0]
            - figure(np.array([cn.sum()]), np.array([cd.sum()]))[0]
        )
        * 100.0
    )
    return Bootstrap(
        images=int(bn.size),
        mean_loss_pt=full,
        low_pt=float(np.quantile(losses, 0.025)),
        high_pt=float(np.quantile(losses, 0.975)),
        sd_pt=float(losses.std()),
        p_loss=float((losses > 0).mean()),
    )


def refused(result: Bootstrap, threshold_pt: float) -> bool:
    """Refuse when the loss is both above the threshold and significant (see the module docstring)."""
    return result.mean_loss_pt > threshold_pt and result.p_loss >= SIGNIFICANCE


def candidates(
    backend: str, features: Mapping[str, bool], int8_built: bool, device: str = "cpu", mixed_built: bool = False
) -> dict[str, str | None]:
    """precision -> None (runnable here) or the reason it is skipped on this host. ``int8-mixed``: INT8 built
    the model's own way (float-kept nodes, recipe: ``quantize.mixed``), built where the model has one."""
    bf16_hw = bool(features.get("avx512_bf16") or features.get("amx_bf16"))
    out: dict[str, str | None] = {"fp32": None}
    if backend != "openvino":
        out["bf16"] = f"skipped: no BF16 inference-precision hint on {backend}"
    elif device != "cpu":
        out["bf16"] = f"skipped: BF16 is a CPU candidate (device {device})"
    elif not bf16_hw:
        out["bf16"] = "skipped: CPU has neither avx512_bf16 nor amx_bf16 (BF16 would be emulated, slower than FP32)"
    else:
        out["bf16"] = None
    out["fp16"] = "skipped: GPU only" if device == "cpu" else None
    out["int8"] = None if int8_built else "skipped: no INT8 artifact built"
    out["int8-mixed"] = None if mixed_built else "skipped: no mixed recipe for this model (quantize/float_kept.json)"
    return out


def speed_groups(speed_ms: Mapping[str, float], margin: float = SPEED_MARGIN) -> list[list[str]]:
    """Candidates faster than FP32 (by ``margin``), fastest first, in groups of equally fast ones.

    A group holds every candidate within ``margin`` of the group's fastest; the gate judges the accuracy of a
    group only when no faster group had a candidate within budget.
    """
    fp32 = speed_ms["fp32"]
    left = sorted(
        (n for n, ms in speed_ms.items() if n != "fp32" and ms <= fp32 * (1 - margin)),
        key=lambda n: (speed_ms[n], _rank(n)),
    )
    groups: list[list[str]] = []
    while left:
        head = speed_ms[left[0]]
        group = [left[0]] + [n for n in left[1:] if speed_ms[n] <= head * (1 + margin)]
        groups.append(group)
        left = [n for n in left if n not in group]
    return groups


def _rank(name: str) -> int:
    return PRECISIONS.index(name) if name in PRECISIONS else len(PRECISIONS)


def _worst_loss(per_set: Mapping[str, Bootstrap]) -> float:
    return max((b.mean_loss_pt for b in per_set.values()), default=0.0)


def choose(
    speed_ms: Mapping[str, float],
    accuracy: Mapping[str, Mapping[str, Bootstrap]],
    skipped: Mapping[str, str | None],
    threshold_pt: float,
    margin: float = SPEED_MARGIN,
) -> tuple[str, dict[str, str]]:
    """(served precision, verdict per candidate) for one stage.

    ``speed_ms``: ms per runnable candidate, from ``time_sessions`` (must hold fp32); ``accuracy``: candidate ->
    set -> bootstrap of FP32 vs that candidate, for the candidates whose accuracy was judged. Served: the first
    speed group (``speed_groups``) with a candidate within budget on every set; in it, the one that loses least.
    """
    fp32 = speed_ms["fp32"]
    verdicts: dict[str, str] = {"fp32": f"baseline {fp32:.1f} ms"}
    served = "fp32"
    groups = speed_groups(speed_ms, margin)
    for group in groups:
        ok = [n for n in group if n in accuracy and not any(refused(b, threshold_pt) for b in accuracy[n].values())]
        if ok:
            served = min(ok, key=lambda n: (round(_worst_loss(accuracy[n]), 3), _rank(n)))
            break
    faster = {n for g in groups for n in g}
    for name, why in skipped.items():
        if name == "fp32":
            continue
        ms = speed_ms.get(name)
        if why is not None:
            verdicts[name] = why
        elif ms is None:
            verdicts[name] = "skipped: not measured"
        elif name in accuracy and any(refused(b, threshold_pt) for b in accuracy[name].values()):
            bad = [s for s, b in accuracy[name].items() if refused(b, threshold_pt)]
            worst = max(bad, key=lambda s: accuracy[name][s].mean_loss_pt)
            b = accuracy[name][worst]
            verdicts[name] = (
                f"refused: {worst} loses {b.mean_loss_pt:.2f} pt (95% CI {b.low_pt:.2f}.."
                f"{b.high_pt:.2f}, P(loss>0) {b.p_loss:.2f}) > {threshold_pt} pt"
            )
        elif name not in faster:
            verdicts[name] = f"not served: {ms:.1f} ms is not {100 * margin:.0f} % faster than FP32 {fp32:.1f} ms"
        elif name not in accuracy:
            verdicts[name] = (
                f"not judged: {ms:.1f} ms ({fp32 / ms:.2f}x FP32), a faster candidate ({served}) is within budget"
            )
        else:
            weakest = max(accuracy[name], key=lambda s: accuracy[name][s].mean_loss_pt, default=None)
            lost = f", worst set {weakest} {accuracy[name][weakest].mean_loss_pt:+.2f} pt" if weakest else ""
            verdicts[name] = f"within budget{lost}, {ms:.1f} ms ({fp32 / ms:.2f}x FP32)"
            if name != served:
                tied = any(name in g and served in g for g in groups)
                verdicts[name] += f"; {served} is as fast and loses less" if tied else f"; {served} is faster"
    verdicts[served] = "served: " + verdicts[served]
    return served, verdicts


def time_rounds(
    sessions: Mapping[str, Any], shapes: Sequence[Sequence[int]], repeat: int
) -> dict[str, list[list[float]]]:
    """ms per round, per shape, per session (``.inputs``, ``.run(feed)``). Sessions interleave round by round
    so that load from elsewhere on a shared host hits them alike (not shape by shape: a session's threads
    still spinning after its run would slow the next session's). One untimed round each first (shape
    preparation, first-run allocations)."""
    rng = np.random.default_rng(0)
    inputs = [rng.random(tuple(shape), dtype=np.float32) for shape in shapes]
    feeds = {name: [{s.inputs[0]: x} for x in inputs] for name, s in sessions.items()}
    for name, session in sessions.items():
        for feed in feeds[name]:
            session.run(feed)
    times: dict[str, list[list[float]]] = {name: [] for name in sessions}
    for _ in range(repeat):
        for name, session in sessions.items():
            row = []
            for feed in feeds[name]:
                t0 = time.perf_counter()
                session.run(feed)
                row.append((time.perf_counter() - t0) * 1000)
            times[name].append(row)
    return times


def time_sessions(
    sessions: Mapping[str, Any], shape: Sequence[int] | Sequence[Sequence[int]], repeat: int
) -> dict[str, float]:
    """ms per session on fixed random inputs of ``shape`` (or of several shapes): the sum over shapes of each
    shape's fastest run. The fastest of interleaved runs, not the median: other processes only ever add time,
    and under load (2 cores, load average 10) the medians of two equal sessions differed by 1.4x, which
    flipped a verdict that quiet runs gave the other way."""
    shapes = [shape] if shape and isinstance(shape[0], int) else shape
    out = {}
    for name, rounds in time_rounds(sessions, shapes, repeat).items():  # type: ignore[arg-type]
        out[name] = sum(min(r[i] for r in rounds) for i in range(len(shapes)))
    return out
