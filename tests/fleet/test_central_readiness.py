"""The central's readiness: health says NOT_SERVING until its store is open and migrated, a database that is not up
yet is tried again (the process does not exit), and the central turns SERVING once the database answers.

Real processes (`python -m server --role central`) and a real PostgreSQL; "unreachable" is a closed port, or the
fault proxy in front of PostgreSQL refusing connections until the test lets them through."""

from __future__ import annotations

import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.ocr_client.fleet import FleetClient
from clients.ocr_client.results import OcrCallError
from tests.fleet.processes import Process, free_port, wait_until
from tests.fleet.proxy import FaultProxy


def _central(store_url: str) -> tuple[Process, str]:
    port = free_port()
    process = Process(
        [
            sys.executable,
            "-m",
            "server",
            "--role",
            "central",
            "--fleet-store",
            store_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--grace-s",
            "5",
        ],
        r"ocr server listening on port",
    )
    return process.start(), f"127.0.0.1:{port}"


def _health(target: str) -> dict[str, str]:
    """The status of the whole server ("") and of FleetService."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return {
            service: health_pb2.HealthCheckResponse.ServingStatus.Name(
                stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            )
            for service in ("", "fleet.v1.FleetService")
        }


def _retries_logged(process: Process) -> int:
    return sum("fleet store unreachable (attempt" in line for line in process.log)


def test_a_central_whose_database_is_unreachable_waits_not_serving_and_stops_cleanly() -> None:
    process, target = _central(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/fleet")
    try:
        wait_until(lambda: _retries_logged(process) >= 3, 60, "three attempts to open the store")
        assert process.process.poll() is None, process.tail()  # waiting, not exited
        assert _health(target) == {"": "NOT_SERVING", "fleet.v1.FleetService": "NOT_SERVING"}
        with FleetClient(target, timeout=10) as client, pytest.raises(OcrCallError) as refused:
            client.list_devices()
        assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")
        assert process.stop(30) == 0, process.tail()  # SIGTERM ends the waiting: a clean drain
    finally:
        process.kill()


def test_a_central_turns_serving_once_its_database_answers(postgres) -> None:
    url = postgres.create_database(f"fleet_ready_{free_port()}")  # empty: the central creates its tables
    proxy = FaultProxy(("127.0.0.1", postgres.port))
    proxy.set_mode("drop")  # every connection is accepted and closed at once: PostgreSQL is "not up yet"
    process, target = _central(url.replace(f":{postgres.port}/", f":{proxy.port}/"))
    try:
        wait_until(lambda: _retries_logged(process) >= 2, 60, "two attempts to open the store")
        assert _health(target) == {"": "NOT_SERVING", "fleet.v1.FleetService": "NOT_SERVING"}
        proxy.set_mode("pass")
        wait_until(lambda: _health(target)["fleet.v1.FleetService"] == "SERVING", 60, "FleetService SERVING")
        assert _health(target)[""] == "SERVING"
        with FleetClient(target, timeout=10) as client:
            assert client.list_devices().items == ()
        lines = process.log
        listening = next(i for i, line in enumerate(lines) if "listening on" in line)
        opened = next(i for i, line in enumerate(lines) if "fleet store open" in line)
        assert "NOT_SERVING until the fleet store is open" in lines[listening] and listening < opened, process.tail()
    finally:
        process.kill()
        proxy.close()
