"""HTTP request <-> proto message, by the proto3 JSON mapping: body, path variables and query parameters in,
JSON out (field names as in the .proto, like ``ocr-client --json``; both spellings are accepted in)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from server.http.errors import HttpError

__all__ = ["to_json", "to_dict", "parse_body", "apply_path", "apply_query", "malformed"]

_WELL_KNOWN_SCALARS = {  # messages whose JSON form is a string: set from one query value
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
}


def malformed(message: str) -> HttpError:
    """A request HTTP cannot turn into the proto message: INVALID_ARGUMENT, as gRPC's validation says it."""
    return HttpError(grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_MALFORMED", message)


def to_dict(message: Message) -> dict[str, Any]:
    """The proto3 JSON mapping as ``ocr-client --json`` prints it (fields without presence printed when zero)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def to_json(message: Message) -> str:
    return json.dumps(to_dict(message), ensure_ascii=False)


def parse_body(body: bytes, message: Message) -> None:
    """Fill ``message`` from a JSON body (empty: nothing); unknown fields and bad values are INVALID_ARGUMENT."""
    if not body.strip():
        return
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(f"the body is not JSON: {exc}") from None
    parse_value(value, message)


def parse_value(value: Any, message: Message) -> None:
    if not isinstance(value, dict):
        raise malformed(f"the body must be a JSON object ({message.DESCRIPTOR.name})")
    try:
        json_format.ParseDict(value, message)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise malformed(f"the body is not a {message.DESCRIPTOR.name}: {exc}") from None


def _field(descriptor: Any, path: str) -> list[FieldDescriptor]:
    fields = []
    for name in path.split("."):
        field = descriptor.fields_by_name.get(name) if descriptor is not None else None
        if field is None and descriptor is not None:  # the JSON spelling (lowerCamelCase) is accepted too
            field = next((f for f in descriptor.fields if f.json_name == name), None)
        if field is None:
            raise malformed(f"no field {path!r} in {descriptor.full_name if descriptor else 'this request'}")
        fields.append(field)
        descriptor = field.message_type
    return fields


def _scalar(field: FieldDescriptor, text: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        if text.lower() not in ("true", "false", "1", "0"):
            raise malformed(f"{field.name} must be true or false")
        return text.lower() in ("true", "1")
    if field.message_type is not None and field.message_type.full_name not in _WELL_KNOWN_SCALARS:
        raise malformed(f"{field.name} is a message: send it in the body, not the query")
    return text  # numbers, enums (by name), bytes (base64), timestamps and durations: ParseDict reads strings


def apply_query(query: Iterable[tuple[str, str]], message: Message, body_fields: Iterable[str] = ()) -> None:
    """Set request fields from ``a.b=value`` query parameters (a repeated field from each of its values)."""
    skip = set(body_fields)
    tree: dict[str, Any] = {}
    for key, text in query:
        fields = _field(message.DESCRIPTOR, key)
        if fields[0].name in skip:
            raise malformed(f"{key} is set by the body")
        node = tree
        for field in fields[:-1]:
            if field.is_repeated:
                raise malformed(f"{key}: a repeated message cannot be set from the query")
            node = node.setdefault(field.name, {})
            if not isinstance(node, dict):
                raise malformed(f"{key} is set twice")
        last = fields[-1]
        value = _scalar(last, text)
        if last.is_repeated:
            node.setdefault(last.name, []).append(value)
        elif last.name in node:
            raise malformed(f"{key} is given twice")
        else:
            node[last.name] = value
    if tree:
        partial = type(message)()
        parse_value(tree, partial)
        message.MergeFrom(partial)


def apply_path(variables: Mapping[str, str], message: Message) -> None:
    """Set the fields bound by the route's path (percent-decoded) over whatever the body or query set."""
    if not variables:
        return
    tree: dict[str, Any] = {}
    for key, raw in variables.items():
        fields = _field(message.DESCRIPTOR, key)
        node = tree
        for field in fields[:-1]:
            node = node.setdefault(field.name, {})
        node[fields[-1].name] = _scalar(fields[-1], unquote(raw))
    partial = type(message)()
    parse_value(tree, partial)
    for name in tree:
        message.ClearField(name)
    message.MergeFrom(partial)
