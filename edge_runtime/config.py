"""Engine configuration: one frozen dataclass, filled from arguments or ``OCR_*`` environment variables."""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from edge_runtime.errors import ConfigurationError

__all__ = ["EngineConfig", "from_env", "BACKENDS", "DEVICES", "PRECISIONS"]

BACKENDS = ("auto", "openvino", "onnxruntime")
DEVICES = ("cpu", "cuda", "tensorrt", "gpu", "npu")
PRECISIONS = ("auto", "int8", "fp32")

T = TypeVar("T")


@dataclass(frozen=True)
class EngineConfig:
    """Deployment knobs of the engine. Model-specific numbers live in the bundle manifest.

    ``precision="auto"`` serves the INT8 artifacts that passed the accuracy gate, stage by stage,
    and FP32 where none did (or none were built).
    """

    bundle: str | None = None  # None: the manifest's default bundle
    backend: str = "auto"  # auto | openvino | onnxruntime
    device: str = "cpu"  # cpu | cuda | tensorrt (ONNX Runtime EPs) | gpu | npu (OpenVINO)
    precision: str = "auto"  # auto | int8 | fp32
    threads: int = 0  # 0: all cores
    ov_precision_hint: str = "f32"  # OpenVINO INFERENCE_PRECISION_HINT for float parts: f32 | bf16 | f16
    ov_runtime_cache: int = 64  # OpenVINO CPU: shape-specific executors kept per kind and stream, least recently
    # used first out (CPU_RUNTIME_CACHE_CAPACITY); -1: OpenVINO's default (5000, all of the recognizer's ~48 shapes).
    # A cached shape keeps ~2 MB per stream in BF16, ~5 MB in INT8: under 16 clients on document pages the int8-mixed
    # recognizer peaked at 1,574 MiB in 4 min with 256, 1,228 with 64 (3-10 % fewer calls), 1,115 with 0 (-10 %). A miss
    # rebuilds the executor from oneDNN's own primitive cache (bench.runtime_shapes; docs/memory.md, "Fifth round")
    use_angle_cls: bool = True
    det_limit_side_len: int = 736
    det_limit_type: str = "min"  # min: shortest side >= limit (small text in 720p scenes); max: longest side <= limit
    det_max_side_len: int = 2000  # cap after the "min" rule, keeps time and memory bounded
    det_small_text_height: float = 28.0  # detector-input px: when the median line found is lower, a second detector
    # pass at 1.3x the sides (736 -> 960 on a 720p photo; detect.second_pass), merged with the first region by region
    # (detect.merge_passes); 0: one pass. Scene photos and a few small-print receipts; pages keep one pass (their
    # input is at the cap or their lines taller): +0.6 word F1 on icdar15_more, docs/accuracy.md "Scene text"
    rec_batch_size: int = 0  # lines per recognizer run; 0: 4 on a CPU, 8 on a GPU (resolved at construction).
    # On a CPU a batch of 8 costs what 8 lines cost, and smaller batches spread a page over the lanes: on 2 cores
    # batches of 4 read document pages 1.07-1.12x faster than batches of 8 (OpenVINO and ONNX Runtime alike)
    det_streams: int = 1  # CPU: like rec_streams, for the detector; 1: its one wide request only. Each stream
    # keeps memory sized to the largest page it ran (~40 B a detector-input pixel, ~120 MB at 1984 x 1536) that
    # release_memory does not give back, and two detector runs in turn on both threads take what they take side
    # by side on one-thread streams (docs/memory.md, "Third round")
    det_runtime_cache: int = 0  # ov_runtime_cache for the detector: nearly every page size is a new shape, so its
    # cache seldom hits and grows ~2 MB a shape; measured, no slower with 0 on a repeated shape (a camera's frames)
    rec_streams: int = 0  # CPU: model runs that overlap (a page's recognizer batches, concurrent calls) go side by
    # side on this many one-thread streams, a run alone gets every thread; 0: one stream per thread; 1: no streams
    rec_max_width: int = 1600  # crops longer than this (after scaling to height 48) are squeezed
    rec_min_width: int = 0  # recognizer inputs are padded to at least this width; 0: the bundle manifest's
    rec_width_step: int = 64  # recognizer input widths are multiples of this: a crop's padding depends on it alone
    cls_decided_lines: int = 4  # classify the longest N lines first; when all are sure of one orientation, the
    # rest inherit it and are classified only where their reading is unsure (rec_sure). 0: classify every line.
    # Measured (docs/recognizer.md): 76 % fewer classifier rows on document pages, the same text there and on
    # 190 scene images
    rec_sure: float = 0.9  # a reading at least this confident is not looked at again (inherited orientation,
    # padding look)
    rec_padding_look: int = 224  # a crop padded narrower than this and read below rec_sure is read again padded to
    # this width; the more confident reading is kept. 0: off. Short scene words (docs/recognizer.md, "Padding look")
    text_score: float = 0.5  # lines whose mean confidence is lower are dropped
    max_image_pixels: int = 40_000_000
    min_image_side: int = 4

    def __post_init__(self) -> None:
        _choice("backend", self.backend, BACKENDS)
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("ov_precision_hint", self.ov_precision_hint, ("f32", "bf16", "f16"))
        _choice("det_limit_type", self.det_limit_type, ("max", "min"))
        if self.rec_batch_size == 0:
            object.__setattr__(self, "rec_batch_size", 4 if self.device == "cpu" else 8)
        if self.threads < 0 or self.rec_batch_size < 1 or self.det_limit_side_len < 32 or self.rec_streams < 0:
            raise ConfigurationError("threads, rec_streams and rec_batch_size must be >= 0, det_limit_side_len >= 32")
        if self.det_small_text_height < 0:
            raise ConfigurationError("det_small_text_height must be >= 0 (0: one detector pass)")
        if min(self.ov_runtime_cache, self.det_runtime_cache) < -1 or self.det_streams < 0:
            raise ConfigurationError(
                "ov_runtime_cache and det_runtime_cache must be >= 0, or -1 for OpenVINO's default; det_streams >= 0"
            )
        if self.rec_width_step < 1 or min(self.rec_min_width, self.cls_decided_lines, self.rec_padding_look) < 0:
            raise ConfigurationError(
                "rec_width_step must be >= 1, rec_min_width, cls_decided_lines and rec_padding_look >= 0"
            )

    @property
    def num_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    @property
    def num_streams(self) -> int:
        return self.rec_streams or self.num_threads

    @property
    def det_num_streams(self) -> int:
        return self.det_streams or self.num_threads

    def replace(self, **changes: Any) -> EngineConfig:
        return dataclasses.replace(self, **changes)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigurationError(f"{name}={value!r} is not one of {', '.join(allowed)}")


def _parse(text: str, kind: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    kind = args[0] if args else kind
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {text!r}")
    return kind(text)


def from_env(cls: type[T], prefix: str = "OCR_", environ: Mapping[str, str] | None = None, **overrides: Any) -> T:
    """Build ``cls`` from defaults < ``OCR_<FIELD>`` environment variables < explicit overrides (None = unset)."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = prefix + f.name.upper()
        if key in env and env[key] != "":
            try:
                values[f.name] = _parse(env[key], hints[f.name])
            except ValueError as exc:
                raise ConfigurationError(f"{key}={env[key]!r}: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)
