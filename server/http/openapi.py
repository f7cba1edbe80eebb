"""OpenAPI 3 of the REST routes, generated from the same descriptors and annotations the gateway routes by.

    python -m server.http.openapi > docs/openapi.json

Schemas follow the proto3 JSON mapping as the server writes it: field names as in the .proto, 64-bit integers
as decimal strings, enums by name, bytes as base64, Timestamp as RFC 3339, Duration as "1.5s".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor

from server.http.errors import ERROR_DOMAIN
from server.http.routes import Route, routes_of

__all__ = ["openapi_document", "contract_services", "main"]

F = FieldDescriptor
_INT32 = {F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32}
_UINT32 = {F.TYPE_UINT32, F.TYPE_FIXED32}
_INT64 = {F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64}
_UINT64 = {F.TYPE_UINT64, F.TYPE_FIXED64}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]{1,12}(\.[0-9]{1,9})?s$"},
}
_ERROR = {
    "type": "object",
    "description": f"A failed call: google.rpc.Status-like; the reason (ErrorInfo, domain {ERROR_DOMAIN}) is also "
    "in the ocr-error-reason header.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer", "description": "The HTTP status."},
                "status": {"type": "string", "description": "The gRPC status code name."},
                "message": {"type": "string"},
                "reason": {"type": "string", "description": "Stable UPPER_SNAKE_CASE reason."},
                "details": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["code", "status", "message"],
        }
    },
    "required": ["error"],
}


def contract_services() -> list[ServiceDescriptor]:
    """Both services of the contract (the committed document); a server serves only its own."""
    from clients.ocr_client.pb import fleet_pb2, ocr_pb2

    return [ocr_pb2.DESCRIPTOR.services_by_name["OcrService"], fleet_pb2.DESCRIPTOR.services_by_name["FleetService"]]


def _ref(descriptor: Descriptor) -> dict[str, Any]:
    if descriptor.full_name in _WELL_KNOWN:
        return dict(_WELL_KNOWN[descriptor.full_name])
    return {"$ref": f"#/components/schemas/{descriptor.full_name}"}


def _scalar(field: FieldDescriptor) -> dict[str, Any]:
    t = field.type
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return {"type": "number", "format": "double" if t == F.TYPE_DOUBLE else "float"}
    if t in _INT32:
        return {"type": "integer", "format": "int32"}
    if t in _UINT32:
        return {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
    if t in _INT64:
        return {"type": "string", "format": "int64", "pattern": r"^-?[0-9]{1,18}$"}
    if t in _UINT64:
        return {"type": "string", "format": "uint64", "pattern": r"^[0-9]{1,19}$"}
    if t == F.TYPE_BOOL:
        return {"type": "boolean"}
    if t == F.TYPE_STRING:
        return {"type": "string"}
    if t == F.TYPE_BYTES:
        return {"type": "string", "format": "byte"}
    if t == F.TYPE_ENUM and field.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    assert field.message_type is not None
    return _ref(field.message_type)


def _field_schema(field: FieldDescriptor) -> dict[str, Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _scalar(value)}
    schema = _scalar(field)
    return {"type": "array", "items": schema} if field.is_repeated else schema


def _message_schema(descriptor: Descriptor) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: _field_schema(f) for f in descriptor.fields},
        "additionalProperties": False,
    }
    oneofs = [o for o in descriptor.oneofs if o.name != "_" + o.fields[0].name]  # not a proto3 `optional`
    if oneofs:
        schema["description"] = "; ".join(
            f"at most one of {', '.join(f.name for f in o.fields)} ({o.name})" for o in oneofs
        )
    return schema


def _collect(descriptor: Descriptor, into: dict[str, dict[str, Any]]) -> None:
    if descriptor.full_name in into or descriptor.full_name in _WELL_KNOWN or descriptor.GetOptions().map_entry:
        return
    into[descriptor.full_name] = _message_schema(descriptor)
    for field in descriptor.fields:
        if field.message_type is not None:
            _collect(field.message_type, into)


def _query_parameters(descriptor: Descriptor, prefix: str, skip: set[str], depth: int = 0) -> list[dict[str, Any]]:
    """A GET route's request fields as ``a.b`` query parameters (messages flattened; repeated scalars repeat)."""
    params = []
    for field in descriptor.fields:
        name = prefix + field.name
        if name in skip:
            continue
        message = field.message_type
        if message is not None and message.full_name not in _WELL_KNOWN:
            if not field.is_repeated and depth < 3:
                params += _query_parameters(message, name + ".", skip, depth + 1)
            continue
        param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": _field_schema(field)}
        if field.is_repeated:
            param["style"], param["explode"] = "form", True
        params.append(param)
    return params


def _operation(route: Route, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    method = route.method
    _collect(method.input_type, schemas)
    _collect(method.output_type, schemas)
    params: list[dict[str, Any]] = [
        {"name": v, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for v in route.variables
    ]
    if route.body != "*":
        params += _query_parameters(method.input_type, "", set(route.variables))
    operation: dict[str, Any] = {
        "operationId": method.name,
        "tags": [method.containing_service.name],
        "summary": f"{method.containing_service.full_name}.{method.name}",
        "parameters": params,
        "responses": {
            "default": {"description": "A failed call", "content": {"application/json": {"schema": _ERROR}}},
        },
    }
    if method.client_streaming:
        options = method.input_type.fields_by_name["options"].message_type
        assert options is not None, "a client-streaming route's first request is its options"
        _collect(options, schemas)
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"options": _ref(options), "file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    },
                    "encoding": {"options": {"contentType": "application/json"}},
                },
                "application/x-ndjson": {
                    "schema": {"type": "string", "description": f"{method.input_type.full_name} per line"}
                },
            },
        }
    elif route.body == "*":
        body = {"application/json": {"schema": _ref(method.input_type)}}
        operation["requestBody"] = {"required": True, "content": body}
    if method.server_streaming and method.client_streaming:
        content = {"application/x-ndjson": {"schema": {"type": "string"}}}
        what = f"{method.output_type.full_name} per line (JSON lines); a failure after the first is an error line"
    elif method.server_streaming:
        content = {"text/event-stream": {"schema": {"type": "string"}}}
        what = f"server-sent events, each data a {method.output_type.full_name}; a failure is an `error` event"
    else:
        content = {"application/json": {"schema": _ref(method.output_type)}}
        what = method.output_type.full_name
    operation["responses"]["200"] = {"description": what, "content": content}
    return operation


def openapi_document(services: Sequence[ServiceDescriptor]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the services' annotated routes."""
    schemas: dict[str, dict[str, Any]] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes_of(services):
        paths.setdefault(route.openapi_path, {})[route.verb.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "edge-ocr HTTP/JSON API",
            "version": "v1",
            "description": "The gRPC contract (ocr.v1, fleet.v1) transcoded by its google.api.http annotations; "
            "see docs/http.md.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m server.http.openapi", description=__doc__.split("\n\n")[0])
    parser.parse_args(sys.argv[1:] if argv is None else argv)
    json.dump(openapi_document(contract_services()), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
