"""The server's connection settings: the flags and variables fill them, the channel arguments carry them, and a
connection past its maximum age is ended while the client reconnects by itself and no call fails."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from clients.ocr_client import OcrClient
from edge_runtime.errors import ConfigurationError
from server.__main__ import parse_args
from server.config import ServerConfig
from server.connections import connection_options
from server.embedded import ServerThread
from tests.conftest import get_engine
from tests.server.images import word_pngs


def test_flags_and_environment_fill_the_connection_settings(monkeypatch) -> None:
    monkeypatch.setenv("OCR_KEEPALIVE_TIME_S", "45")
    config, _ = parse_args(["--max-connection-age", "5m", "--max-connection-age-grace", "30s"])
    options = dict(connection_options(config))
    assert options["grpc.max_connection_age_ms"] == 300_000
    assert options["grpc.max_connection_age_grace_ms"] == 30_000
    assert options["grpc.keepalive_time_ms"] == 45_000
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 10_000
    assert options["grpc.keepalive_permit_without_calls"] == 1


def test_age_zero_never_ends_a_connection_and_bad_values_are_refused() -> None:
    assert "grpc.max_connection_age_ms" not in dict(connection_options(ServerConfig(max_connection_age_s=0)))
    for bad in ({"max_connection_age_s": -1}, {"max_connection_age_grace_s": -1}, {"keepalive_min_ping_s": 0}):
        with pytest.raises(ConfigurationError):
            ServerConfig(**bad)


def test_an_aged_connection_is_ended_and_the_client_reconnects_without_a_failed_call() -> None:
    server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0, max_connection_age_s=1.0))
    states: list[grpc.ChannelConnectivity] = []
    reconnected = threading.Event()

    def seen(state: grpc.ChannelConnectivity) -> None:
        states.append(state)
        ready = [i for i, s in enumerate(states) if s == grpc.ChannelConnectivity.READY]
        if len(ready) >= 2 and any(s != grpc.ChannelConnectivity.READY for s in states[ready[0] : ready[-1]]):
            reconnected.set()

    try:
        with OcrClient(server.target, timeout=60) as client:
            client.channel.subscribe(seen, try_to_connect=True)
            assert client.recognize(word_pngs()[0], skip_detection=True).lines
            deadline = time.monotonic() + 30
            while not reconnected.is_set() and time.monotonic() < deadline:  # calls go on across the GOAWAY
                assert client.recognize(word_pngs()[0], skip_detection=True).lines
                reconnected.wait(0.2)
            assert reconnected.is_set(), f"the connection was never ended and made again: {states}"
            assert client.recognize(word_pngs()[0], skip_detection=True).lines
            client.channel.unsubscribe(seen)
    finally:
        server.stop()
