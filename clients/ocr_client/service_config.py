"""The one gRPC service config and keepalive of the Python clients: calls spread over every address a target
resolves to, and the calls that are safe to send again are retried when a replica could not take them.

Targets are any gRPC URI: ``host:port`` (DNS), ``dns:///ocr.example:50051`` (a Kubernetes headless Service lists
every ready pod), ``ipv4:127.0.0.1:50051,127.0.0.2:50051`` (a fixed list). ``round_robin`` keeps a connection to
each address and sends each call to the next ready one; the servers end connections after a maximum age
(``--max-connection-age``), so the target is resolved again and new replicas get calls.

Retried (``UNAVAILABLE`` only: the replica is draining, still loading its models, or the connection failed
before the call reached it; with backoff and a budget):

- ``Recognize``, ``BatchRecognize``, ``GetServerInfo``: they change nothing on the server, so a second try is
  harmless even when the first did reach it;
- the fleet's reads: ``QueryEvents``, ``ListDevices``, ``ListSightings``, ``GetFleetStats``.

Not retried here: ``ReportEvents`` needs no policy, its acknowledgements are the retry (the agent resends what
was not acknowledged on a new call and the central stores each event once); ``StreamRecognize``,
``RecognizeDocument`` and ``WatchEvents`` are streams, committed at their first message, that the caller
resumes itself (a watch from its cursor); ``DeleteDeviceData`` is a write whose second answer would differ.
"""

from __future__ import annotations

import json

__all__ = ["RETRIED_METHODS", "SERVICE_CONFIG", "KEEPALIVE_TIME_S", "MAX_RECONNECT_BACKOFF_S", "channel_options"]

RETRIED_METHODS: dict[str, tuple[str, ...]] = {
    "ocr.v1.OcrService": ("Recognize", "BatchRecognize", "GetServerInfo"),
    "fleet.v1.FleetService": ("QueryEvents", "ListDevices", "ListSightings", "GetFleetStats"),
}

# The retry budget (gRPC's retryThrottling): every retryable failure takes a token, every success gives back 0.1;
# below half of maxTokens nothing is retried. A burst of 50 failures is retried (a replica draining or loading);
# a steady failure rate over 10 % is not, so clients do not multiply the load of a fleet that is failing.
SERVICE_CONFIG: dict = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [
                {"service": service, "method": method}
                for service, methods in RETRIED_METHODS.items()
                for method in methods
            ],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.05s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
    "retryThrottling": {"maxTokens": 100, "tokenRatio": 0.1},
}

# Keepalive: a ping every 30 s, also between calls, keeps NAT and load-balancer entries alive and finds a dead
# connection within 40 s. The server allows pings every 10 s (server.config keepalive_min_ping_s); faster pings
# would be answered GOAWAY too_many_pings.
KEEPALIVE_TIME_S = 30.0
KEEPALIVE_TIMEOUT_S = 10.0
# An address that refused a connection is tried again after at most this long (gRPC's default is 120 s): a replica
# restarted, or added to a fixed ``ipv4:`` list, gets calls within seconds.
MAX_RECONNECT_BACKOFF_S = 10.0


def channel_options(max_message_bytes: int) -> list[tuple[str, int | str]]:
    """Channel arguments for ``grpc.*_channel(options=...)``: the service config, keepalive, and a retry buffer
    that holds a whole request (a request larger than the buffer would not be retried)."""
    return [
        ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        ("grpc.service_config_disable_resolution", 1),  # this config, not one a DNS TXT record might carry
        ("grpc.enable_retries", 1),
        ("grpc.per_rpc_retry_buffer_size", max_message_bytes),
        ("grpc.retry_buffer_size", 4 * max_message_bytes),
        ("grpc.keepalive_time_ms", int(KEEPALIVE_TIME_S * 1000)),
        ("grpc.keepalive_timeout_ms", int(KEEPALIVE_TIMEOUT_S * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),  # keepalive pings go on while no call sends data
        ("grpc.max_reconnect_backoff_ms", int(MAX_RECONNECT_BACKOFF_S * 1000)),
    ]
