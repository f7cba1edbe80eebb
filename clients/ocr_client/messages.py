"""The generated ocr.v1 and fleet.v1 protobuf messages, without grpc: for code that builds or reads messages only.

Fails on import with ``GeneratedCodeError`` (one line naming the command to run) when the generated code is
missing or stale; nothing is generated here (see ``clients.ocr_client.generated``).
"""

from __future__ import annotations

from clients.ocr_client.generated import require_current

require_current()

from clients.ocr_client.gen.fleet.v1 import fleet_service_pb2 as fleet_pb2  # noqa: E402
from clients.ocr_client.gen.ocr.v1 import ocr_service_pb2 as ocr_pb2  # noqa: E402

__all__ = ["ocr_pb2", "fleet_pb2"]
