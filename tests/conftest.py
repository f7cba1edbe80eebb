"""Shared fixtures: real engines (real models fetched by scripts/setup.sh), loaded once per test session.

Two kinds of labelled data:
- ``data_dir``: the project's own rendered sets (``edge_runtime.evaluation.synth``), present on every clone;
  functional tests and the INT8 tests read these.
- ``eval_dir``: the team's larger real-world sets (``$OCR_EVAL_DIR`` or ``../shared/eval``), an extra
  evaluation. Tests that need it skip with a reason where it is absent; ``OCR_REQUIRE_EVAL=1`` (set by
  ``.ci/run``) turns that skip into a failure, so CI always runs them.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from edge_runtime.config import EngineConfig

REPO = Path(__file__).resolve().parents[1]
# Servers the tests start build no INT8 in the background (scripts/test.sh builds it before pytest, and a server
# on another bundle would otherwise start a build of its own); tests of that path pass --optimize.
os.environ.setdefault("OCR_OPTIMIZE", "0")
# ... and bind no HTTP port (`python -m server` defaults to 8080, which parallel servers would fight over); the HTTP
# tests ask for one (port 0: any free one).
os.environ.setdefault("OCR_HTTP_PORT", "0")
EVAL_DIR = Path(os.environ.get("OCR_EVAL_DIR", REPO.parent / "shared" / "eval"))
_engines: dict[EngineConfig, object] = {}


def get_engine(**config):
    """A cached OcrEngine for these EngineConfig fields (models load once per session)."""
    from edge_runtime.pipeline import OcrEngine

    key = EngineConfig(**config)
    if key not in _engines:
        _engines[key] = OcrEngine(key)
    return _engines[key]


_readings: dict[tuple, list] = {}


def shared_recognizer(engine):
    """``engine_recognizer(engine)`` whose readings are kept for the session, keyed by the engine's settings and
    the precision each stage resolved to: the accuracy tests (FP32 against RapidOCR) and the gate tests (what is
    served against FP32) read the same images with the same models, and an ``auto`` that serves FP32 everywhere
    is the FP32 engine. Same models, same input, same lines: reading them once is not a weaker test."""
    import dataclasses

    from edge_runtime.evaluation.accuracy import engine_recognizer

    read = engine_recognizer(engine)
    models = (dataclasses.replace(engine.config, precision="fp32"), tuple(sorted(engine.precision.items())))

    def recognize(image: Path, skip_detection: bool) -> list:
        key = (models, str(image), skip_detection)
        if key not in _readings:
            _readings[key] = read(image, skip_detection)
        return _readings[key]

    return recognize


def require_eval_dir() -> Path:
    """``EVAL_DIR``, or a skip (a failure under ``OCR_REQUIRE_EVAL=1``) when it is absent."""
    if not EVAL_DIR.is_dir():
        why = f"the larger real-world eval sets are absent ({EVAL_DIR}; set OCR_EVAL_DIR)"
        if os.environ.get("OCR_REQUIRE_EVAL") == "1":
            pytest.fail(why + " and OCR_REQUIRE_EVAL=1 requires them")
        pytest.skip(why)
    return EVAL_DIR


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    return require_eval_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The project's own rendered labelled sets (rendered on first use, reused after)."""
    return data_root()


@functools.lru_cache(None)
def data_root() -> Path:
    """Where the project's rendered sets are (for module-level helpers that are not fixtures)."""
    from edge_runtime.evaluation import synth

    return synth.ensure()


@pytest.fixture(scope="session")
def engine():
    """The default engine as served (auto backend, auto precision)."""
    return get_engine()


@pytest.fixture(scope="session")
def fp32_engine():
    return get_engine(precision="fp32")
