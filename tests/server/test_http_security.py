"""The HTTP port is as secure as the gRPC port because it is the gRPC port underneath: tokens, scopes, rate
limits and the audit log apply to HTTP callers; with mutual TLS the client certificate names the caller, and no
one outside the process can hand the gRPC layer an identity."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import urllib.error

import grpc
import pytest

from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
from server.config import ServerConfig
from server.http.handoff import IDENTITY_KEY, SECRET_KEY, Handoff
from tests.conftest import get_engine
from tests.server.certs import SPIFFE_ID, make_pki
from tests.server.httpcalls import free_port, http, http_server
from tests.server.images import word_pngs


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKENS = {
    "tokens": [
        {"sha256": sha("alice-token"), "principal": "alice", "scopes": ["ocr.recognize"]},
        {"sha256": sha("cam-token"), "principal": "cam-09", "scopes": ["fleet.report"]},
        {"sha256": sha("old-token"), "principal": "old", "scopes": ["ocr.recognize"], "expires": "2020-01-01T00:00Z"},
        {
            "sha256": sha("flood-token"),
            "principal": "flood",
            "scopes": ["ocr.recognize"],
            "limits": {"calls_per_s": 0.01, "calls_burst": 2},
        },
    ],
    "identities": [{"principal": SPIFFE_ID, "scopes": ["ocr.recognize"]}],
}


def word_body() -> dict:
    import base64

    return {"image": {"content": base64.b64encode(word_pngs()[0]).decode()}, "options": {"skip_detection": True}}


def audited(path, request_id: str) -> list[dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in lines if r["request_id"] == request_id]


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    root = tmp_path_factory.mktemp("http-secured")
    (root / "tokens.json").write_text(json.dumps(TOKENS))
    config = ServerConfig(
        host="127.0.0.1", port=0, tokens_file=str(root / "tokens.json"), audit_log=str(root / "audit.log")
    )
    server = http_server(get_engine, config)
    server.audit_path = root / "audit.log"
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "TOKEN_MISSING"),
        ({"authorization": "Bearer nope"}, 401, "TOKEN_INVALID"),
        ({"authorization": "Basic YWxpY2U6eA=="}, 401, "TOKEN_INVALID"),
        ({"authorization": "Bearer old-token"}, 401, "TOKEN_EXPIRED"),
        ({"authorization": "Bearer cam-token"}, 403, "SCOPE_MISSING"),
    ],
)
def test_refused_callers_get_status_and_reason(secured, headers, status, reason):
    answer = http(secured.http_base, "POST", "/v1/images:recognize", word_body(), headers)
    assert (answer.status, answer.reason) == (status, reason)
    assert answer.json()["error"]["reason"] == reason
    record = audited(secured.audit_path, answer.headers["x-request-id"])
    assert record and record[0]["reason"] == reason  # refused HTTP calls are audited like gRPC ones


def test_a_token_with_the_scope_is_served_and_audited_as_its_principal(secured):
    answer = http(
        secured.http_base,
        "POST",
        "/v1/images:recognize",
        word_body(),
        {"authorization": "Bearer alice-token", "x-request-id": "http-test-0001"},
    )
    assert answer.status == 200 and answer.json()["lines"]
    assert answer.headers["x-request-id"] == "http-test-0001"
    (record,) = audited(secured.audit_path, "http-test-0001")
    assert (record["principal"], record["via"], record["status"]) == ("alice", "token", "OK")


def test_rate_limits_apply_per_principal(secured):
    headers = {"authorization": "Bearer flood-token"}
    answers = [http(secured.http_base, "GET", "/v1/serverInfo", None, headers) for _ in range(4)]
    assert [a.status for a in answers[:2]] == [200, 200]
    refused = answers[-1]
    assert (refused.status, refused.reason) == (429, "RATE_LIMITED")
    assert int(refused.headers["retry-after"]) >= 1
    assert http(secured.http_base, "GET", "/v1/serverInfo", None, {"authorization": "Bearer alice-token"}).status == 200


def test_handoff_metadata_is_trusted_only_with_the_process_secret():
    handoff = Handoff()
    assert handoff(handoff.metadata("spiffe://x/y")) == "spiffe://x/y"
    assert handoff([(IDENTITY_KEY, "spiffe://x/y"), (SECRET_KEY, "0" * 64)]) is None
    assert handoff([(IDENTITY_KEY, "spiffe://x/y")]) is None
    assert Handoff()(handoff.metadata("spiffe://x/y")) is None  # another server's secret


# ---- mutual TLS -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("http-pki"))


@pytest.fixture(scope="module")
def mtls(pki, tmp_path_factory):
    root = tmp_path_factory.mktemp("http-mtls")
    (root / "tokens.json").write_text(json.dumps(TOKENS))
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_client_ca=str(pki.ca),
        tokens_file=str(root / "tokens.json"),
        audit_log=str(root / "audit.log"),
    )
    server = http_server(get_engine, config)
    server.audit_path = root / "audit.log"
    yield server
    server.stop()


def tls_context(pki, cert=None, key=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def test_the_client_certificate_names_the_http_caller(mtls, pki):
    context = tls_context(pki, pki.client_cert, pki.client_key)
    answer = http(mtls.http_base, "POST", "/v1/images:recognize", word_body(), context=context)
    assert answer.status == 200, answer.body
    (record,) = audited(mtls.audit_path, answer.headers["x-request-id"])
    assert (record["principal"], record["via"], record["identity"]) == (SPIFFE_ID, "cert", SPIFFE_ID)


def test_forged_identity_headers_are_not_passed_on(mtls, pki):
    context = tls_context(pki, pki.cn_client_cert, pki.cn_client_key)
    forged = {IDENTITY_KEY: SPIFFE_ID, SECRET_KEY: "0" * 64}
    answer = http(mtls.http_base, "POST", "/v1/images:recognize", word_body(), forged, context=context)
    (record,) = audited(mtls.audit_path, answer.headers["x-request-id"])
    assert record["principal"] == "kiosk-07"


def test_forged_handoff_metadata_on_grpc_names_no_one(mtls, pki):
    credentials = grpc.ssl_channel_credentials(
        pki.ca.read_bytes(), pki.cn_client_key.read_bytes(), pki.cn_client_cert.read_bytes()
    )
    with grpc.secure_channel(mtls.target.replace("127.0.0.1", "localhost"), credentials) as channel:
        stub = ocr_pb2_grpc.OcrServiceStub(channel)
        _, call = stub.GetServerInfo.with_call(
            ocr_pb2.GetServerInfoRequest(),
            metadata=((IDENTITY_KEY, SPIFFE_ID), (SECRET_KEY, "f" * 64), ("x-request-id", "forged-handoff-01")),
            timeout=60,
        )
    (record,) = audited(mtls.audit_path, "forged-handoff-01")
    assert record["principal"] == "kiosk-07"


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_the_http_port_requires_a_client_certificate_of_the_ca(mtls, pki, who):
    context = (
        tls_context(pki) if who == "no certificate" else tls_context(pki, pki.other_client_cert, pki.other_client_key)
    )
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        http(mtls.http_base, "GET", "/v1/serverInfo", context=context, timeout=30)
    ok = http(mtls.http_base, "GET", "/v1/serverInfo", context=tls_context(pki, pki.client_cert, pki.client_key))
    assert ok.status == 200


def test_the_in_process_socket_grants_nothing_by_itself(mtls):
    """A local caller of the in-process socket passes the same checks, and cannot forge the hand-off."""
    with grpc.insecure_channel(f"unix:{mtls.server.http.socket_path}") as channel:
        stub = ocr_pb2_grpc.OcrServiceStub(channel)
        for metadata in ((), ((IDENTITY_KEY, SPIFFE_ID), (SECRET_KEY, "f" * 64))):
            with pytest.raises(grpc.RpcError) as info:
                stub.GetServerInfo(ocr_pb2.GetServerInfoRequest(), metadata=metadata, timeout=60)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert dict(info.value.trailing_metadata())["ocr-error-reason"] == "TOKEN_MISSING"


def test_the_http_port_is_bound_by_the_listen_rule():
    from edge_runtime.errors import ConfigurationError

    assert ServerConfig(http_port=8080).http_bind_host == "localhost"  # no credentials: this machine only
    assert ServerConfig(http_port=8080, tokens_file="t.json").http_bind_host == "[::]"
    with pytest.raises(ConfigurationError) as info:
        ServerConfig(host="127.0.0.1", http_port=8080, http_host="0.0.0.0").check_listen()
    assert info.value.reason == "INSECURE_LISTEN"
    ServerConfig(host="127.0.0.1", http_host="0.0.0.0").check_listen()  # HTTP off: its host does not matter
    ServerConfig(host="127.0.0.1", http_port=8080, http_host="0.0.0.0", tokens_file="t.json").check_listen()


def test_a_taken_http_port_fails_the_start_in_one_line(tmp_path):
    import subprocess
    import sys

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        out = subprocess.run(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", "--http-port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1].endswith("[PORT_UNAVAILABLE]"), out.stderr
