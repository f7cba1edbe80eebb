"""The one table of scopes and of which scope each gRPC method needs."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SCOPES", "OPEN", "AUTHENTICATED", "METHOD_SCOPES", "register_method_scopes", "scope_of"]

SCOPES = ("ocr.recognize", "ocr.stream", "fleet.report", "fleet.query", "fleet.admin")
OPEN = "open"  # anyone, without credentials (probes)
AUTHENTICATED = "authenticated"  # any valid credentials, no particular scope

_OCR = "/ocr.v1.OcrService/"
METHOD_SCOPES: dict[str, str] = {
    _OCR + "Recognize": "ocr.recognize",
    _OCR + "BatchRecognize": "ocr.recognize",
    _OCR + "RecognizeDocument": "ocr.recognize",
    _OCR + "GetServerInfo": "ocr.recognize",  # OPEN with ServerConfig.open_server_info
    _OCR + "StreamRecognize": "ocr.stream",
    "/fleet.v1.FleetService/ReportEvents": "fleet.report",
    "/fleet.v1.FleetService/QueryEvents": "fleet.query",
    "/fleet.v1.FleetService/WatchEvents": "fleet.query",
    "/fleet.v1.FleetService/ListDevices": "fleet.query",
    "/fleet.v1.FleetService/GetFleetStats": "fleet.query",
    "/fleet.v1.FleetService/ListSightings": "fleet.query",
    "/fleet.v1.FleetService/DeleteDeviceData": "fleet.admin",
    "/grpc.health.v1.Health/Check": OPEN,
    "/grpc.health.v1.Health/Watch": OPEN,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": AUTHENTICATED,  # OPEN with open_reflection
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": AUTHENTICATED,
}


def register_method_scopes(table: Mapping[str, str]) -> None:
    """Add the methods of another service (e.g. the fleet service: ``{"/fleet.v1.Fleet/Report": "fleet.report"}``).
    A method of a registered service that is in no table is refused (PERMISSION_DENIED / METHOD_NOT_ALLOWED)."""
    for method, scope in table.items():
        if scope not in SCOPES and scope not in (OPEN, AUTHENTICATED):
            raise ValueError(f"{method}: unknown scope {scope!r}")
        METHOD_SCOPES[method] = scope


def scope_of(method: str, open_reflection: bool = False, open_server_info: bool = False) -> str | None:
    """What ``method`` needs: a scope, OPEN or AUTHENTICATED; None when it is in no table."""
    scope = METHOD_SCOPES.get(method)
    if open_reflection and method.endswith("ServerReflection/ServerReflectionInfo"):
        return OPEN
    if open_server_info and method == _OCR + "GetServerInfo":
        return OPEN
    return scope
