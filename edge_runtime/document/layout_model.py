"""Layout regions of a page image from the manifest's layout model (PP-PicoDet, CDLA classes): our own pre- and
post-processing, written from the model's files (its input shape, its label metadata, the manifest's numbers).

The model is a GFL-style detector: for each feature-map stride it gives per-anchor class scores (already sigmoid)
and, per box side, a distribution over ``reg_max + 1`` distance bins; the distance is the distribution's mean
times the stride, measured from the anchor's centre. Boxes are decoded per stride, kept above the score threshold,
and non-maximum suppressed per class. Regions come back in page pixels with the block kind each class maps to.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.backends import Session, SessionOptions, load
from edge_runtime.document.structure import BlockKind
from edge_runtime.errors import ModelError

__all__ = [
    "LayoutModelParams",
    "Region",
    "LayoutModel",
    "load_layout_model",
    "shared_layout_model",
    "preprocess",
    "decode",
    "nms",
    "KIND_OF_LABEL",
]

# The CDLA classes in our block kinds: CDLA has no heading, list or page number (the text layout step finds those),
# and a reference list is read as a list of items.
KIND_OF_LABEL = {
    "text": BlockKind.TEXT,
    "title": BlockKind.TITLE,
    "figure": BlockKind.FIGURE,
    "figure_caption": BlockKind.CAPTION,
    "table": BlockKind.TABLE,
    "table_caption": BlockKind.CAPTION,
    "header": BlockKind.HEADER,
    "footer": BlockKind.FOOTER,
    "reference": BlockKind.LIST,
    "equation": BlockKind.FORMULA,
}


@dataclass(frozen=True)
class LayoutModelParams:
    """The manifest's numbers for one layout model."""

    labels: tuple[str, ...]
    input_hw: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    strides: tuple[int, ...]
    score_thresh: float
    iou_thresh: float
    top_k: int  # candidates per stride kept before NMS (the highest scores)
    keep: int  # regions per class kept after NMS

    @classmethod
    def from_spec(cls, spec: dict) -> LayoutModelParams:
        p = spec["params"]
        return cls(
            labels=tuple(spec["labels"]["names"]),
            input_hw=(int(p["input_hw"][0]), int(p["input_hw"][1])),
            mean=tuple(p["mean"]),
            std=tuple(p["std"]),
            strides=tuple(int(s) for s in p["strides"]),
            score_thresh=float(p["score_thresh"]),
            iou_thresh=float(p["iou_thresh"]),
            top_k=int(p["top_k"]),
            keep=int(p["keep"]),
        )


@dataclass(frozen=True)
class Region:
    """One detected region: its class as the model names it, our block kind, score and box in page pixels."""

    label: str
    kind: BlockKind
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1


def preprocess(image: np.ndarray, params: LayoutModelParams) -> np.ndarray:
    """A BGR page image as the model's input: stretched to its fixed size (no letterbox: the model was trained so),
    RGB, ImageNet mean and std, NCHW float32."""
    h, w = params.input_hw
    rgb = cv2.cvtColor(cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    mean, std = np.array(params.mean, np.float32), np.array(params.std, np.float32)
    x = (rgb.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, keep: int) -> list[int]:
    """Greedy non-maximum suppression; indices of the kept boxes, best first (at most ``keep``)."""
    order = np.argsort(-scores, kind="stable")
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    picked: list[int] = []
    while order.size and len(picked) < keep:
        i = int(order[0])
        picked.append(i)
        rest = order[1:]
        ix0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        order = rest[inter / np.maximum(area[i] + area[rest] - inter, 1e-9) <= iou]
    return picked


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def decode(outputs: list[np.ndarray], params: LayoutModelParams, width: int, height: int) -> list[Region]:
    """The model's outputs as regions in the page's pixels (``width`` x ``height``), best score first."""
    n = len(params.labels)
    scores = sorted((o[0] for o in outputs if o.shape[-1] == n), key=len, reverse=True)  # stride 8 first
    dists = sorted((o[0] for o in outputs if o.shape[-1] != n), key=len, reverse=True)
    if len(scores) != len(params.strides) or len(dists) != len(params.strides):
        raise ValueError(f"layout model gave {len(outputs)} outputs, expected 2 per stride {params.strides}")
    in_h, in_w = params.input_hw
    all_boxes, all_scores = [], []
    for stride, score, dist in zip(params.strides, scores, dists, strict=True):
        rows, cols = math.ceil(in_h / stride), math.ceil(in_w / stride)
        if score.shape[0] != rows * cols:
            raise ValueError(f"stride {stride}: {score.shape[0]} anchors, expected {rows * cols}")
        best = score.max(axis=1)
        idx = np.argsort(-best, kind="stable")[: params.top_k]
        idx = idx[best[idx] > params.score_thresh]
        if not idx.size:
            continue
        cy = (idx // cols + 0.5) * stride
        cx = (idx % cols + 0.5) * stride
        bins = dist.shape[-1] // 4
        d = _softmax(dist[idx].reshape(-1, 4, bins)) @ np.arange(bins, dtype=np.float32) * stride  # l, t, r, b
        all_boxes.append(np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1))
        all_scores.append(score[idx])
    if not all_boxes:
        return []
    boxes = np.concatenate(all_boxes)
    probs = np.concatenate(all_scores)
    boxes = boxes * np.array([width / in_w, height / in_h, width / in_w, height / in_h], np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    regions = []
    for c, label in enumerate(params.labels):
        mask = probs[:, c] > params.score_thresh
        if not mask.any():
            continue
        b, s = boxes[mask], probs[mask, c]
        for i in nms(b, s, params.iou_thresh, params.keep):
            box = tuple(float(v) for v in b[i])
            regions.append(Region(label, KIND_OF_LABEL.get(label, BlockKind.TEXT), float(s[i]), box))  # type: ignore[arg-type]
    return sorted(regions, key=lambda r: -r.score)


class LayoutModel:
    """A loaded layout model: ``regions(image)`` runs pre-process -> model -> post-process on one page image."""

    def __init__(self, session: Session, params: LayoutModelParams) -> None:
        self.session = session
        self.params = params

    @classmethod
    def load(cls, directory: Path, backend: str = "onnxruntime", options: SessionOptions | None = None) -> LayoutModel:
        """Open an installed layout model (``python -m models fetch pp-layout-cdla``); FP32 (see docs/layout.md)."""
        spec = json.loads((directory / "model.json").read_text())
        session = load(backend, directory / "model.onnx", options or SessionOptions())
        return cls(session, LayoutModelParams.from_spec(spec))

    def regions(self, image: np.ndarray) -> list[Region]:
        height, width = image.shape[:2]
        feeds = {self.session.inputs[0]: preprocess(image, self.params)}
        return decode(self.session.run(feeds), self.params, width, height)


def load_layout_model(model_id: str | None = None, root: Path | None = None) -> LayoutModel:
    """The installed layout model (the manifest's default), or ModelError MODEL_NOT_INSTALLED saying how to fetch it:
    nothing is downloaded at run time."""
    from models.bundle import manifest
    from models.fetch import layout_dir, verify_layout

    model_id = model_id or manifest()["default_layout_model"]
    if not verify_layout(model_id, root):
        raise ModelError(
            f"layout model {model_id} is not installed or does not verify; run `python -m models fetch {model_id}`",
            "MODEL_NOT_INSTALLED",
        )
    return LayoutModel.load(layout_dir(model_id, root))


_shared: dict[str, LayoutModel] = {}
_shared_lock = threading.Lock()


def shared_layout_model() -> LayoutModel:
    """The default layout model, loaded on the first call that asks for layout and kept for the process: a server
    whose callers never ask for layout never loads it."""
    with _shared_lock:
        if "default" not in _shared:
            _shared["default"] = load_layout_model()
        return _shared["default"]
