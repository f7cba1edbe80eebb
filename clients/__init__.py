"""Clients of the edge-ocr gRPC service: Python (``clients.ocr_client``) and Node.js (``clients/node``)."""
