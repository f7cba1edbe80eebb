"""gRPC transport of edge-ocr: `python -m server` serves ocr.v1.OcrService over the runtime in edge_runtime/."""

__version__ = "0.1.0"
