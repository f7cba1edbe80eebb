"""Shared fixtures: real engines (real models fetched by scripts/setup.sh), loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_runtime.config import EngineConfig

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = Path(os.environ.get("OCR_EVAL_DIR", REPO.parent / "shared" / "eval"))
_engines: dict[EngineConfig, object] = {}


def get_engine(**config):
    """A cached OcrEngine for these EngineConfig fields (models load once per session)."""
    from edge_runtime.pipeline import OcrEngine

    key = EngineConfig(**config)
    if key not in _engines:
        _engines[key] = OcrEngine(key)
    return _engines[key]


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not EVAL_DIR.is_dir():
        pytest.fail(f"labelled eval sets not found at {EVAL_DIR} (set OCR_EVAL_DIR)")
    return EVAL_DIR


@pytest.fixture(scope="session")
def engine():
    """The default engine as served (auto backend, auto precision)."""
    return get_engine()


@pytest.fixture(scope="session")
def fp32_engine():
    return get_engine(precision="fp32")
