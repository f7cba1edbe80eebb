"""Operations flags of the server: a plain-text health port beside a mutual-TLS service port (what probes and the
container HEALTHCHECK use), the memory ceiling (drain, then exit 3), JSON log lines from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import grpc
import pytest

from server.app import EXIT_MEMORY
from server.config import ServerConfig
from server.embedded import ServerThread
from server.healthcheck import main as healthcheck
from tests.conftest import REPO, get_engine
from tests.server.certs import make_pki
from tests.services import free_port


def test_health_port_answers_in_plain_text_while_the_service_needs_mutual_tls(tmp_path, capsys, monkeypatch):
    pki = make_pki(tmp_path)
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_client_ca=str(pki.ca),
        health_port=free_port(),
    )
    server = ServerThread(get_engine, config)
    try:
        monkeypatch.setenv("OCR_HEALTH_PORT", str(server.server.health_port))
        monkeypatch.setenv("OCR_PORT", str(server.port))
        assert healthcheck(["--timeout-s", "30"]) == 0  # the default target: the health port
        assert "SERVING" in capsys.readouterr().out
        with grpc.insecure_channel(f"127.0.0.1:{server.server.health_port}") as channel:
            from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc

            with pytest.raises(grpc.RpcError) as refused:  # the health port serves health and nothing else
                ocr_pb2_grpc.OcrServiceStub(channel).GetServerInfo(ocr_pb2.GetServerInfoRequest(), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        monkeypatch.setenv("OCR_HEALTH_PORT", "0")  # no health port: the service port, which wants a certificate
        assert healthcheck(["--timeout-s", "5"]) == 1
        assert "unreachable" in capsys.readouterr().out
    finally:
        server.stop()


def _serve(*flags: str, timeout_s: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCR_") or k in ("OCR_MODEL_DIR",)}
    return subprocess.run(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", *flags],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_a_server_past_its_memory_ceiling_drains_and_exits_non_zero() -> None:
    """With a ceiling far below what loaded models take, the server stops by itself (an orchestrator restarts
    it); its JSON log says why."""
    run = _serve("--max-rss-mb", "64", "--log-format", "json", "--grace-s", "5")
    assert run.returncode == EXIT_MEMORY, run.stderr[-3000:]
    records = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    over = [r for r in records if "over --max-rss-mb" in r["message"]]
    assert len(over) == 1 and over[0]["level"] == "ERROR"
    assert any(r["message"] == "stopped" for r in records)


def test_bad_operations_flags_fail_in_one_line() -> None:
    for flags, words in [
        (("--log-format", "xml"), "invalid choice"),
        (("--cache-url", "http://cache:80"), "cache_url"),
        (("--metrics-port", "70000"), "metrics_port"),
    ]:
        run = _serve(*flags, timeout_s=120)
        assert run.returncode == 2 and words in run.stderr, run.stderr


def test_tracing_is_off_and_free_without_an_endpoint(monkeypatch) -> None:
    from server import tracing

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setattr(tracing, "_tried", False)
    monkeypatch.setattr(tracing, "_tracer", None)
    assert tracing.tracer() is None
    tracing.record_call("Recognize", 0, None, "OK", [])  # a no-op
    assert "opentelemetry.sdk" not in sys.modules
