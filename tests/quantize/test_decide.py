"""The per-stage decision: paired bootstrap refuses a clear loss and accepts noise; BF16 is a candidate only on
CPUs with avx512_bf16/amx_bf16 (faked here, so a host without BF16 still tests that path); fastest within budget."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.cpu import cpu_features
from quantize.decide import Bootstrap, candidates, choose, paired_bootstrap, refused


def _scores(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 1.0, n)


def test_a_clear_loss_is_refused() -> None:
    base = _scores(120, 1)
    result = paired_bootstrap(base, base - 0.03)  # every image 3 points worse
    assert result.mean_loss_pt == pytest.approx(3.0)
    assert result.p_loss == 1.0 and result.low_pt > 1.0
    assert refused(result, 1.0)


def test_noise_is_accepted() -> None:
    base = _scores(120, 1)
    noise = np.random.default_rng(2).normal(0.0, 0.05, base.size)  # per-image jitter, no systematic loss
    result = paired_bootstrap(base, base + noise - noise.mean())
    assert abs(result.mean_loss_pt) < 1e-9 and result.low_pt < 0 < result.high_pt
    assert not refused(result, 1.0)


def test_a_large_but_insignificant_loss_is_accepted() -> None:
    base = np.array([1.0, 1.0, 1.0, 1.0])
    result = paired_bootstrap(base, np.array([1.0, 1.0, 1.0, 0.9]))  # one image of four: mean 2.5 pt
    assert result.mean_loss_pt > 1.0 and result.p_loss < 0.95
    assert not refused(result, 1.0)


def test_the_bootstrap_is_deterministic_and_paired() -> None:
    base = _scores(50, 3)
    assert paired_bootstrap(base, base * 0.99) == paired_bootstrap(base, base * 0.99)
    assert paired_bootstrap(base, base).sd_pt == 0.0  # same images for both: identical results cost nothing
    with pytest.raises(ValueError):
        paired_bootstrap(base, base[:-1])


def test_bf16_is_skipped_without_the_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_CPU_FEATURES", "avx2,avx512f,avx512_vnni")
    skipped = candidates("openvino", cpu_features(), int8_built=True)
    assert skipped["fp32"] is None and skipped["int8"] is None
    assert skipped["bf16"] and "avx512_bf16" in skipped["bf16"]
    served, verdicts = choose({"fp32": 100.0, "int8": 60.0}, {"int8": {"signs": _ok()}}, skipped, 1.0)
    assert served == "int8" and verdicts["bf16"].startswith("skipped")


@pytest.mark.parametrize("flags", ["avx2,avx512f,avx512_bf16", "avx2,amx_bf16"])
def test_bf16_is_chosen_when_fastest_within_budget(monkeypatch: pytest.MonkeyPatch, flags: str) -> None:
    monkeypatch.setenv("OCR_CPU_FEATURES", flags)
    skipped = candidates("openvino", cpu_features(), int8_built=True)
    assert skipped["bf16"] is None
    served, verdicts = choose({"fp32": 100.0, "bf16": 50.0, "int8": 60.0},
                              {"bf16": {"signs": _ok()}, "int8": {"signs": _ok()}}, skipped, 1.0)
    assert served == "bf16" and verdicts["bf16"].startswith("served")


def test_onnxruntime_has_no_bf16_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_CPU_FEATURES", "avx512_bf16,amx_bf16")
    assert candidates("onnxruntime", cpu_features(), int8_built=False)["bf16"]


def test_inaccurate_or_slow_candidates_are_not_served() -> None:
    skipped = {"fp32": None, "bf16": None, "int8": None}
    loss = Bootstrap(images=72, mean_loss_pt=2.0, low_pt=1.2, high_pt=2.8, sd_pt=0.4, p_loss=1.0)
    served, verdicts = choose({"fp32": 100.0, "bf16": 120.0, "int8": 40.0},
                              {"bf16": {"signs": _ok()}, "int8": {"signs": _ok(), "plates": loss}}, skipped, 1.0)
    assert served == "fp32"
    assert verdicts["int8"].startswith("refused: plates") and verdicts["bf16"].startswith("not served")


def _ok() -> Bootstrap:
    return Bootstrap(images=72, mean_loss_pt=0.1, low_pt=-0.5, high_pt=0.7, sd_pt=0.3, p_loss=0.6)
