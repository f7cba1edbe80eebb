"""gRPC C-core's own lines (fd 2) come back as log records: with ``--log-format json`` every line a server writes
on stdout and stderr is JSON, and a refused TLS handshake is one line naming the peer and a stable reason (unknown
CA, no client certificate, expired certificate), in either log format."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clients.ocr_client import OcrCallError, OcrClient
from server.corelog import Handshakes, parse_line, tls_reason
from tests.conftest import REPO
from tests.server.certs import make_pki
from tests.server.images import scene_png

# lines grpcio 1.85 wrote for refused handshakes (GRPC_TRACE=handshaker); the long args dump is shortened
_OPENSSL = (
    "I1207 11:41:53.581604    1028 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: "
    "error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate"
)
_TRACED = (
    "I1207 11:41:53.581639    1028 handshaker.cc:155] CallNextHandshakerLocked: error=UNKNOWN: Ssl handshake "
    "failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:100000c0:SSL routines:OPENSSL_internal:"
    "PEER_DID_NOT_RETURN_A_CERTIFICATE: Invalid certificate verification context: OK\n"
    "=== Source Location Trace: ===\nsrc/core/util/status_helper.cc:68\n shutdown=false index=2, args={endpoint="
    "0x7f28fc001c70, args={grpc.internal.endpoint_local_address=ipv4:127.0.0.1:39039, "
    "grpc.internal.endpoint_peer_address=ipv6:%5B::1%5D:53428, grpc.internal.security_connector=0x560ea3971250}}"
)


def test_core_lines_parse_with_their_level_and_source() -> None:
    line = parse_line("E1207 11:39:35.475119   29705 ssl_utils.cc:490] Handshaker factory creation failed")
    assert line is not None and line.level == 40 and line.source == "ssl_utils.cc:490"
    assert parse_line("W1207 11:39:35.475119 29705 fork_posix.cc:71] Other threads").level == 30  # type: ignore
    assert parse_line("Traceback (most recent call last):") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate", "TLS_UNKNOWN_CA"),
        ("PEER_DID_NOT_RETURN_A_CERTIFICATE: Invalid certificate verification context", "TLS_NO_CLIENT_CERT"),
        ("CERTIFICATE_VERIFY_FAILED: certificate has expired", "TLS_CERT_EXPIRED"),
        ("WRONG_VERSION_NUMBER", "TLS_HANDSHAKE_FAILED"),
    ],
)
def test_openssl_wording_maps_to_a_stable_reason(text: str, reason: str) -> None:
    assert tls_reason(text) == reason


def test_a_refused_handshake_is_one_line_with_the_peer_from_the_trace(caplog) -> None:
    traced = Handshakes(traced=True)
    assert traced.handle(parse_line(_OPENSSL))  # type: ignore[arg-type]  # dropped: the trace's line follows
    assert not caplog.records
    assert traced.handle(parse_line(_TRACED))  # type: ignore[arg-type]
    (record,) = caplog.records
    assert (record.peer, record.reason) == ("[::1]:53428", "TLS_NO_CLIENT_CERT")  # type: ignore[attr-defined]
    assert record.getMessage() == "TLS handshake refused from [::1]:53428: TLS_NO_CLIENT_CERT"
    caplog.clear()
    assert Handshakes(traced=False).handle(parse_line(_OPENSSL))  # type: ignore[arg-type]  # no trace: no peer
    assert caplog.records[0].reason == "TLS_UNKNOWN_CA"  # type: ignore[attr-defined]


def _expired_client(pki_dir: Path) -> tuple[Path, Path]:
    """A client certificate of the server's own CA whose validity ended a day before it began."""
    cert = pki_dir / "expired.crt"
    subprocess.run(
        ["openssl", "x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "-1",
         "-extfile", "client.ext", "-out", cert.name],
        cwd=pki_dir, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, pki_dir / "client.key"


class _Server:
    """`python -m server` with its stdout and stderr kept apart, line by line."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_", "GRPC_")) or k == "OCR_MODEL_DIR"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", *args],
            cwd=REPO,
            env={**env, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self.stderr.extend, args=(self.process.stderr,), daemon=True).start()
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line)
            match = re.search(r"ocr server listening on port (\d+)", line)
            if match:
                self.port = int(match.group(1))
                threading.Thread(target=self.stdout.extend, args=(self.process.stdout,), daemon=True).start()
                return
        self.process.wait(60)
        pytest.fail("server did not start: " + "".join(self.stderr))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(120)
        time.sleep(0.2)  # the readers take the last lines
        return code


def _refuse(port: int, pki, **credentials) -> None:
    with OcrClient(f"127.0.0.1:{port}", ca=pki.ca, timeout=20, **credentials) as client:
        with pytest.raises(OcrCallError) as failed:
            client.server_info()
        assert failed.value.code.name == "UNAVAILABLE"


def _refusals(lines: list[str]) -> dict[str, str]:
    refused = [re.search(r"TLS handshake refused from (\S+): (TLS_[A-Z_]+)", line) for line in lines]
    return {m.group(2): m.group(1) for m in refused if m}


def test_json_logs_are_json_on_every_line_and_refused_handshakes_name_peer_and_reason(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    expired_cert, expired_key = _expired_client(tmp_path / "pki")
    tls = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-client-ca", str(pki.ca))
    server = _Server("--log-format", "json", *tls)
    try:
        with OcrClient(f"127.0.0.1:{server.port}", ca=pki.ca, cert=pki.client_cert, key=pki.client_key) as good:
            good.wait_until_serving(120)
            assert good.recognize(scene_png()).error is None
        _refuse(server.port, pki, cert=pki.other_client_cert, key=pki.other_client_key)
        _refuse(server.port, pki)
        _refuse(server.port, pki, cert=expired_cert, key=expired_key)
        assert server.stop() == 0
    finally:
        server.process.kill()
    for line in server.stdout + server.stderr:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record), line
    assert any("ocr server ready" in line for line in server.stdout)
    refused = [json.loads(line) for line in server.stderr if '"server.tls"' in line]
    assert {r["reason"] for r in refused} == {"TLS_UNKNOWN_CA", "TLS_NO_CLIENT_CERT", "TLS_CERT_EXPIRED"}
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", r["peer"]) for r in refused), refused


def test_text_logs_name_the_refused_peer_too(tmp_path: Path) -> None:
    """The central role loads no models: a cheap server to refuse a certificate from another CA."""
    pki = make_pki(tmp_path / "pki")
    tls = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-client-ca", str(pki.ca))
    server = _Server("--role", "central", "--fleet-store", f"sqlite:///{tmp_path / 'fleet.db'}", *tls)
    try:
        _refuse(server.port, pki, cert=pki.other_client_cert, key=pki.other_client_key)
        assert server.stop() == 0
    finally:
        server.process.kill()
    refused = _refusals(server.stderr)
    assert set(refused) == {"TLS_UNKNOWN_CA"} and re.fullmatch(r"127\.0\.0\.1:\d+", refused["TLS_UNKNOWN_CA"])
    assert not any(line.startswith(("I1", "E1", "W1")) for line in server.stderr)  # C-core's lines are records
