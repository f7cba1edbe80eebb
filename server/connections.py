"""The server's connection settings as gRPC channel arguments: a maximum age, so calls spread over replicas, and
keepalive that survives NATs and load balancers while tolerating the project's clients' own pings."""

from __future__ import annotations

from server.config import ServerConfig

__all__ = ["connection_options"]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def connection_options(config: ServerConfig) -> list[tuple[str, int]]:
    """Channel arguments for ``grpc.aio.server(options=...)``.

    A client keeps one HTTP/2 connection per address and sends every call over it; ending connections after
    ``max_connection_age_s`` (gRPC adds +-10 % jitter, so replicas do not all cut at once) makes clients resolve
    their target again and reach replicas added since. The GOAWAY lets calls in flight finish for the grace; new
    calls go to the client's other connections. Clients' keepalive pings (every 20-30 s, also between calls) must
    not be faster than ``keepalive_min_ping_s``, or the server ends the connection with too_many_pings.
    """
    options = [
        ("grpc.keepalive_time_ms", _ms(config.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", _ms(config.keepalive_timeout_s)),
        ("grpc.keepalive_permit_without_calls", 1),  # idle clients may ping: it keeps NAT entries alive
        ("grpc.http2.min_ping_interval_without_data_ms", _ms(config.keepalive_min_ping_s)),
        ("grpc.http2.max_pings_without_data", 0),  # the server's own keepalive pings are not capped
    ]
    if config.max_connection_age_s > 0:
        options += [
            ("grpc.max_connection_age_ms", _ms(config.max_connection_age_s)),
            ("grpc.max_connection_age_grace_ms", _ms(config.max_connection_age_grace_s)),
        ]
    return options
