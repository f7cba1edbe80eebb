"""The generated ocr.v1 and fleet.v1 modules with their grpc stubs, and the full names of the two services.

Builds on ``clients.ocr_client.messages`` (which checks that the generated code is present and current).
"""

from __future__ import annotations

# messages first: it checks that the generated code is present and current before gen/ is imported
from clients.ocr_client import messages
from clients.ocr_client.gen.fleet.v1 import fleet_service_pb2_grpc as fleet_pb2_grpc
from clients.ocr_client.gen.ocr.v1 import ocr_service_pb2_grpc as ocr_pb2_grpc

ocr_pb2 = messages.ocr_pb2
fleet_pb2 = messages.fleet_pb2

__all__ = ["ocr_pb2", "ocr_pb2_grpc", "SERVICE_NAME", "fleet_pb2", "fleet_pb2_grpc", "FLEET_SERVICE_NAME"]

SERVICE_NAME = ocr_pb2.DESCRIPTOR.services_by_name["OcrService"].full_name
FLEET_SERVICE_NAME = fleet_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name
