"""The ``int8-mixed`` candidate: INT8 built the way a model needs, with the parts that lose accuracy under INT8
kept in float and/or a recipe of its own (e.g. no bias correction).

How is a property of the model, not of the host, so it is written down once, per bundle and stage, in
``quantize/float_kept.json`` (found by ``bench/rec_sensitivity.py``; figures in docs/int8.md). Both backends
build the candidate from the same calibration samples as ``int8``; the gate judges it per host like the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["NAME", "FLOAT_KEPT", "RECIPE_KEYS", "float_kept", "recipe", "built", "op_types", "mixed_file"]

NAME = "int8-mixed"
FLOAT_KEPT = Path(__file__).resolve().parent / "float_kept.json"
# what a recipe entry may change (``quantize.openvino_ptq.quantize_stage``'s arguments)
RECIPE_KEYS = {"openvino": ("bias_correction", "fast_bias_correction", "smooth_quant_alpha")}


def _entry(bundle_id: str, stage: str) -> dict:
    return json.loads(FLOAT_KEPT.read_text(encoding="utf-8")).get(bundle_id, {}).get(stage) or {}


def float_kept(bundle_id: str, stage: str, backend: str) -> tuple[str, ...] | None:
    """Node names (the ONNX file's) kept in float in ``bundle_id``'s ``stage`` on ``backend``; None where the
    bundle has no mixed candidate for that stage and backend."""
    names = _entry(bundle_id, stage).get("nodes", {}).get(backend)
    return tuple(names) if names else None


def recipe(bundle_id: str, stage: str, backend: str) -> dict[str, Any] | None:
    """The mixed candidate's own quantization arguments on ``backend`` (None: the ``int8`` recipe's)."""
    changes = _entry(bundle_id, stage).get("recipe", {}).get(backend)
    if not changes:
        return None
    unknown = sorted(set(changes) - set(RECIPE_KEYS.get(backend, ())))
    if unknown:
        raise ValueError(f"{FLOAT_KEPT.name}: {bundle_id} {stage} {backend}: unknown recipe keys {unknown}")
    return dict(changes)


def built(bundle_id: str, stage: str, backend: str) -> bool:
    """Whether the bundle's stage has a mixed candidate on ``backend`` (float-kept nodes, a recipe, or both)."""
    return bool(float_kept(bundle_id, stage, backend) or recipe(bundle_id, stage, backend))


def op_types(bundle_id: str, stage: str) -> tuple[str, ...] | None:
    """ONNX Runtime QDQ: the op types the mixed candidate quantizes (None: the stage's ``int8`` ones)."""
    types = _entry(bundle_id, stage).get("onnxruntime_op_types")
    return tuple(types) if types else None


def mixed_file(int8_file: str) -> str:
    """``rec.xml`` -> ``rec.mixed.xml`` (beside the full INT8 file; the record names which one serves)."""
    stem, _, suffix = int8_file.partition(".")
    return f"{stem}.mixed.{suffix}"
