"""The generated ocr.v1 and fleet.v1 modules, (re)generated on first import when gen/ is missing or stale."""

from __future__ import annotations

from clients.ocr_client import codegen

codegen.generate()

from clients.ocr_client.gen.ocr.v1 import ocr_service_pb2 as ocr_pb2  # noqa: E402
from clients.ocr_client.gen.ocr.v1 import ocr_service_pb2_grpc as ocr_pb2_grpc  # noqa: E402
from clients.ocr_client.gen.fleet.v1 import fleet_service_pb2 as fleet_pb2  # noqa: E402
from clients.ocr_client.gen.fleet.v1 import fleet_service_pb2_grpc as fleet_pb2_grpc  # noqa: E402

__all__ = ["ocr_pb2", "ocr_pb2_grpc", "SERVICE_NAME", "fleet_pb2", "fleet_pb2_grpc", "FLEET_SERVICE_NAME"]

SERVICE_NAME = ocr_pb2.DESCRIPTOR.services_by_name["OcrService"].full_name
FLEET_SERVICE_NAME = fleet_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name
