"""TLS and mutual TLS against a real server: the client's identity comes from its certificate (SPIFFE URI SAN or
CN); a certificate from another CA, no certificate and plain text to the TLS port are refused at the handshake,
and the server keeps serving the others."""

from __future__ import annotations

import functools
import hashlib
import json

import grpc
import pytest

from clients.ocr_client import OcrCallError, OcrClient
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine
from tests.server.certs import SPIFFE_ID, make_pki
from tests.server.images import word_pngs

S = grpc.StatusCode


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls(pki, tmp_path_factory):
    root = tmp_path_factory.mktemp("mtls")
    tokens = root / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tokens": [
                    {
                        "sha256": hashlib.sha256(b"alice-token").hexdigest(),
                        "principal": "alice",
                        "scopes": ["ocr.recognize", "ocr.stream"],
                    }
                ],
                "identities": [{"principal": SPIFFE_ID, "scopes": ["ocr.recognize"]}],
            }
        )
    )
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_client_ca=str(pki.ca),
        tokens_file=str(tokens),
        audit_log=str(root / "audit.log"),
    )
    server = ServerThread(get_engine, config)
    server.audit_path = root / "audit.log"
    yield server
    server.stop()


def word() -> bytes:
    return word_pngs()[0]


def recognize(client: OcrClient):
    return client.recognize(word(), skip_detection=True)


def stream(client: OcrClient):
    return list(client.stream_recognize([word()], config={"options": {"skip_detection": True}}))


def audited(server, request_id: str | None = None) -> list[dict]:
    lines = [json.loads(line) for line in server.audit_path.read_text().splitlines() if line.strip()]
    return [r for r in lines if request_id is None or r["request_id"] == request_id]


def refused_at_handshake(call) -> None:
    with pytest.raises(OcrCallError) as info:
        call()
    assert info.value.code == S.UNAVAILABLE and info.value.reason is None


def test_client_certificate_is_the_identity(mtls, pki):
    with OcrClient(mtls.target, ca=pki.ca, cert=pki.client_cert, key=pki.client_key, timeout=120) as client:
        assert recognize(client).lines
        with pytest.raises(OcrCallError) as info:  # its identity entry grants ocr.recognize only
            stream(client)
        assert (info.value.code, info.value.reason) == (S.PERMISSION_DENIED, "SCOPE_MISSING")
    record = audited(mtls, info.value.request_id)[0]
    assert (record["principal"], record["via"], record["identity"]) == (SPIFFE_ID, "cert", SPIFFE_ID)
    ok = [r for r in audited(mtls) if r["status"] == "OK" and r["principal"] == SPIFFE_ID]
    assert ok and ok[-1]["method"].endswith("/Recognize")


def test_unlisted_certificate_gets_the_certificate_scopes_by_cn(mtls, pki):
    with OcrClient(mtls.target, ca=pki.ca, cert=pki.cn_client_cert, key=pki.cn_client_key, timeout=120) as client:
        assert recognize(client).lines
        assert stream(client)
    assert any(r["principal"] == "kiosk-07" and r["via"] == "cert" for r in audited(mtls))


def test_a_token_names_the_principal_over_a_certificate(mtls, pki):
    with OcrClient(
        mtls.target, ca=pki.ca, cert=pki.client_cert, key=pki.client_key, token="alice-token", timeout=120
    ) as client:
        assert stream(client)  # alice's token grants ocr.stream
        with pytest.raises(OcrCallError) as info:
            OcrClient(
                mtls.target, ca=pki.ca, cert=pki.client_cert, key=pki.client_key, token="wrong", timeout=60
            ).recognize(word(), skip_detection=True)
        assert (info.value.code, info.value.reason) == (S.UNAUTHENTICATED, "TOKEN_INVALID")
    assert any(r["principal"] == "alice" and r["identity"] == SPIFFE_ID for r in audited(mtls))


def test_hostile_transports_are_refused_and_others_keep_being_served(mtls, pki):
    good = OcrClient(mtls.target, ca=pki.ca, cert=pki.client_cert, key=pki.client_key, timeout=120)
    hostile = {
        "certificate from another CA": OcrClient(
            mtls.target, ca=pki.ca, cert=pki.other_client_cert, key=pki.other_client_key, timeout=10
        ),
        "no client certificate": OcrClient(mtls.target, ca=pki.ca, token="alice-token", timeout=10),
        "plain text to the TLS port": OcrClient(mtls.target, token="alice-token", timeout=10),
    }
    try:
        for name, client in hostile.items():
            refused_at_handshake(functools.partial(recognize, client))
            assert recognize(good).lines, f"not served after: {name}"
        # a client that does not trust the server's CA refuses the server
        with OcrClient(mtls.target, ca=pki.other_ca, cert=pki.client_cert, key=pki.client_key, timeout=10) as c:
            refused_at_handshake(lambda: recognize(c))
    finally:
        for client in (good, *hostile.values()):
            client.close()


def test_tls_with_tokens_only(pki, tmp_path):
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        f'[[tokens]]\nsha256 = "{hashlib.sha256(b"bob-token").hexdigest()}"\n'
        'principal = "bob"\nscopes = ["ocr.recognize"]\nexpires = 2099-01-01T00:00:00Z\n'
    )
    server = ServerThread(
        get_engine,
        ServerConfig(
            host="127.0.0.1",
            port=0,
            tls_cert=str(pki.server_cert),
            tls_key=str(pki.server_key),
            tokens_file=str(tokens),
        ),
    )
    try:
        with OcrClient(server.target, ca=pki.ca, token="bob-token", timeout=120) as client:
            assert recognize(client).lines
            assert client.health() == "SERVING"
        with OcrClient(server.target, ca=pki.ca, timeout=60) as client:
            with pytest.raises(OcrCallError) as info:
                recognize(client)
            assert (info.value.code, info.value.reason) == (S.UNAUTHENTICATED, "TOKEN_MISSING")
            assert client.health() == "SERVING"
    finally:
        server.stop()


def test_the_cli_hints_at_what_to_check_when_no_call_gets_through(mtls, pki, capsys):
    """A refused TLS handshake (no client certificate for a mutual-TLS server) and a port nobody serves: the one
    error line names the flags to check, before its reason."""
    from clients.ocr_client.cli import main
    from tests.services import free_port

    code = main(["--target", mtls.target, "--ca", str(pki.ca), "--timeout", "10", "info"])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and line.endswith("[UNAVAILABLE]")
    assert "hint: no server answered" in line and "TLS handshake failed" in line and "--cert/--key" in line
    code = main(["--target", f"127.0.0.1:{free_port()}", "--timeout", "5", "info"])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "hint: no server answered" in line and "pass --ca" in line and line.endswith("[UNAVAILABLE]")
    good = ["--ca", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    code = main(["--target", mtls.target, *good, "info"])
    assert code == 0 and "hint" not in capsys.readouterr().err
