"""The generated ocr.v1 protobuf messages without gRPC, for code that builds or reads messages but makes no call.

Minimal stand-in on the "shapes" branch; the "layering" branch's module of the same name replaces it.
"""

from __future__ import annotations

from clients.ocr_client.gen.ocr.v1 import ocr_service_pb2 as ocr_pb2

__all__ = ["ocr_pb2"]
