"""`python -m server.healthcheck`: exit 0 when the local server's gRPC health says SERVING, 1 otherwise.

The container HEALTHCHECK (Dockerfile.edge) runs it; it speaks the standard grpc.health.v1 protocol, so it
also tells "models still loading" (NOT_SERVING) from "nothing listening" (unreachable) in its one line. It asks
the plain-text health port (``OCR_HEALTH_PORT``, which serves health only) where one is set, so it needs no
certificate when the main port has TLS or mutual TLS.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["check", "main"]


def check(target: str, service: str = "", timeout_s: float = 2.0) -> tuple[bool, str]:
    """(serving, what was seen) for ``service`` ("" = the whole server) at ``target``."""
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            return False, f"{target}: unreachable or failing ({exc.code().name})"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{target}: {status}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.healthcheck", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        default=None,
        help="host:port (default 127.0.0.1:$OCR_HEALTH_PORT, the plain-text health port, else $OCR_PORT, else 50051)",
    )
    parser.add_argument("--service", default="", help="service name (default: the whole server)")
    parser.add_argument("--timeout-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    health_port = os.environ.get("OCR_HEALTH_PORT", "").strip()
    port = health_port if health_port not in ("", "0") else os.environ.get("OCR_PORT") or 50051
    target = args.target or f"127.0.0.1:{port}"
    serving, seen = check(target, args.service, args.timeout_s)
    print(seen)
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
