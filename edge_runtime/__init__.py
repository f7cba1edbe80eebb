"""edge-ocr runtime: PP-OCR detection, angle classification and recognition on OpenVINO or ONNX Runtime.

The runtime knows nothing of gRPC; transports live in ``server/``. ``edge_runtime.messages`` builds the ocr.v1
protobuf messages of a result (protobuf only), which the server sends and the command line prints.
"""

from typing import Any

from edge_runtime.config import EngineConfig
from edge_runtime.errors import InvalidImageError, OcrError
from edge_runtime.types import OcrResult, Provenance, RawImage, TextLine, Word

__all__ = [
    "EngineConfig",
    "OcrEngine",
    "OcrResult",
    "RawImage",
    "TextLine",
    "Word",
    "Provenance",
    "OcrError",
    "InvalidImageError",
]


def __getattr__(name: str) -> Any:  # OcrEngine pulls numpy/cv2/backends: import it only when asked for
    if name == "OcrEngine":
        from edge_runtime.pipeline import OcrEngine

        return OcrEngine
    raise AttributeError(name)
