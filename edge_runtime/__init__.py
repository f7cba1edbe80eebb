"""edge-ocr runtime: PP-OCR detection, angle classification and recognition on OpenVINO or ONNX Runtime.

The runtime knows nothing of gRPC; transports live in ``server/``.
"""

from edge_runtime.config import EngineConfig
from edge_runtime.errors import InvalidImageError, OcrError
from edge_runtime.types import OcrResult, Provenance, TextLine, Word

__all__ = ["EngineConfig", "OcrEngine", "OcrResult", "TextLine", "Word", "Provenance", "OcrError",
           "InvalidImageError"]


def __getattr__(name: str):  # OcrEngine pulls numpy/cv2/backends: import it only when asked for
    if name == "OcrEngine":
        from edge_runtime.pipeline import OcrEngine

        return OcrEngine
    raise AttributeError(name)
