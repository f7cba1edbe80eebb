"""The REST routes, read from the contract's ``google.api.http`` annotations: no route is written by hand."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2, http_pb2  # type: ignore[import-untyped]  # googleapis-common-protos
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

__all__ = ["Route", "routes_of", "match"]

_VERBS = ("get", "put", "post", "delete", "patch")
_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)(?:=([^}]*))?\}")


@dataclass(frozen=True)
class Route:
    """One annotated method: its HTTP verb and path, and the gRPC method it transcodes to."""

    verb: str  # GET, POST, DELETE, ...
    template: str  # as annotated: /v1/devices/{device_id}/data
    pattern: re.Pattern[str]
    variables: tuple[str, ...]  # request fields bound from the path (dotted)
    body: str  # "*": the whole request from the body; "": none (fields from the query); else one field
    method: MethodDescriptor

    @property
    def full_method(self) -> str:
        """The gRPC method name: /fleet.v1.FleetService/DeleteDeviceData."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def request_class(self) -> Any:
        return message_factory.GetMessageClass(self.method.input_type)

    @property
    def response_class(self) -> Any:
        return message_factory.GetMessageClass(self.method.output_type)

    @property
    def openapi_path(self) -> str:
        """The path as OpenAPI writes it: {device_id} (a ``{name=pattern}`` loses its pattern)."""
        return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", self.template)


def _compile(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []
    parts: list[str] = []
    last = 0
    for m in _VARIABLE.finditer(template):
        parts.append(re.escape(template[last : m.start()]))
        names.append(m.group(1))
        segment = m.group(2) or "*"
        parts.append(f"(?P<v{len(names) - 1}>{'.+' if segment == '**' else '[^/]+'})")
        last = m.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts)), tuple(names)


def _rules(method: MethodDescriptor) -> list[http_pb2.HttpRule]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    return [rule, *rule.additional_bindings]


def routes_of(services: Iterable[ServiceDescriptor]) -> list[Route]:
    """Every annotated binding of the services' methods, in declaration order."""
    found = []
    for service in services:
        for method in service.methods:
            for rule in _rules(method):
                kind = rule.WhichOneof("pattern")
                if kind not in _VERBS:
                    continue  # a custom verb: not in this contract
                template = getattr(rule, kind)
                pattern, variables = _compile(template)
                found.append(Route(kind.upper(), template, pattern, variables, rule.body, method))
    return found


def match(routes: Iterable[Route], verb: str, path: str) -> tuple[Route | None, dict[str, str], tuple[str, ...]]:
    """(route, path variables) for a request; without one, the verbs the path has (for 405's Allow)."""
    verbs: list[str] = []
    for route in routes:
        m = route.pattern.fullmatch(path)
        if m is None:
            continue
        if route.verb != verb:
            verbs.append(route.verb)
            continue
        return route, {name: m.group(f"v{i}") for i, name in enumerate(route.variables)}, ()
    return None, {}, tuple(verbs)
