"""The generated ocr.v1 modules, owned by the client library (``clients.ocr_client.pb``) and re-exported here."""

from __future__ import annotations

from clients.ocr_client.pb import SERVICE_NAME, ocr_pb2, ocr_pb2_grpc

__all__ = ["ocr_pb2", "ocr_pb2_grpc", "SERVICE_NAME"]
