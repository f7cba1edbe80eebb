"""Inference backends behind one small interface; each is imported only when chosen."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edge_runtime.backends.base import Session, SessionOptions
from edge_runtime.errors import BackendUnavailableError

__all__ = ["Session", "SessionOptions", "load", "resolve_backend", "available_backends"]

_MODULES = {"openvino": "edge_runtime.backends.openvino", "onnxruntime": "edge_runtime.backends.onnxruntime"}
_PACKAGES = {"openvino": "openvino", "onnxruntime": "onnxruntime"}


def available_backends() -> list[str]:
    return [name for name, pkg in _PACKAGES.items() if importlib.util.find_spec(pkg) is not None]


def resolve_backend(backend: str, device: str) -> str:
    """``auto`` means OpenVINO where it imports, ONNX Runtime otherwise (and for CUDA / TensorRT)."""
    if backend != "auto":
        if backend not in _MODULES:
            raise BackendUnavailableError(f"unknown backend {backend!r}; choose one of {', '.join(_MODULES)}")
        if importlib.util.find_spec(_PACKAGES[backend]) is None:
            raise BackendUnavailableError(f"backend {backend!r} is not installed (pip install {_PACKAGES[backend]})")
        return backend
    if device in ("cuda", "tensorrt"):
        return resolve_backend("onnxruntime", device)
    found = available_backends()
    if not found:
        raise BackendUnavailableError("neither openvino nor onnxruntime is installed")
    return found[0]


def load(backend: str, model_path: Path, options: SessionOptions) -> Session:
    """Open ``model_path`` (.onnx, or OpenVINO .xml) with ``backend`` ("openvino" | "onnxruntime")."""
    module = importlib.import_module(_MODULES[resolve_backend(backend, options.device)])
    return module.load(Path(model_path), options)
