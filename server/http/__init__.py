"""HTTP/JSON beside gRPC: the contract's ``google.api.http`` routes, OpenAPI and the web console on one port.

- routes: the REST routes, read from the annotations (nothing routed by hand);
- transcode: HTTP request <-> proto message by the proto3 JSON mapping;
- gateway: the aiohttp server; each call goes to this server's own gRPC port in-process, so every layer applies;
- handoff: a verified client certificate's identity, passed on so that only this process can;
- errors: gRPC status -> HTTP status and the JSON error body; sse: server-streams as server-sent events;
- documents: POST /v1/documents:recognize's multipart or JSON-lines body; static: the console's files;
- openapi: the OpenAPI 3 document (``python -m server.http.openapi``).
"""

from server.http.gateway import HttpGateway

__all__ = ["HttpGateway"]
