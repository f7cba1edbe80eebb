"""Security pieces without a server: redaction, the tokens file, token buckets, the listen rule, audit rotation."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from edge_runtime.errors import ConfigurationError
from server.config import ServerConfig, is_loopback
from server.redact import Redactor, luhn_ok
from server.scopes import METHOD_SCOPES, OPEN, register_method_scopes, scope_of
from server.security.audit import AuditLog
from server.security.limits import PrincipalLimiter, TokenBucket
from server.security.tokens import Limits, TokenFile, hash_token, parse
from tests.conftest import REPO

ALL = Redactor(["email", "phone", "card"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mail: john.doe@example.com", "Mail: [EMAIL]"),
        ("Tel +49 30 1234567", "Tel [PHONE]"),
        ("Call (555) 123-4567 now", "Call [PHONE] now"),
        ("Card 4111 1111 1111 1111 ok", "Card [CARD] ok"),
        ("4111-1111-1111-1111", "[CARD]"),
        ("num 4111 1111 1111 1112", "num 4111 1111 1111 1112"),  # fails Luhn, too long for a phone number
        ("Date 2024-01-15 total 12.50", "Date 2024-01-15 total 12.50"),
        ("TOTAL 42.00 EUR", "TOTAL 42.00 EUR"),
        ("", ""),
    ],
)
def test_redaction(text, expected):
    assert ALL.text(text) == expected


def test_redaction_masks_words_of_a_masked_line_and_own_patterns():
    text, words = ALL.line("Card 4111 1111 1111 1111", ["Card", "4111", "1111", "1111", "1111"])
    assert text == "Card [CARD]" and words == ["Card", "[CARD]", "[CARD]", "[CARD]", "[CARD]"]
    plates = Redactor([], [r"\b[A-Z]{2}-\d{4}\b"])
    assert plates.text("plate AB-1234 seen") == "plate [REDACTED] seen"
    assert not Redactor() and Redactor().text("a@b.co") == "a@b.co"
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_tokens_file_json_and_toml(tmp_path):
    digest = hash_token("s3cret")
    contents = parse(
        json.dumps(
            {
                "tokens": [
                    {
                        "sha256": digest,
                        "principal": "p",
                        "scopes": ["ocr.recognize"],
                        "expires": 4102444800,
                        "limits": {"max_streams": 2},
                    }
                ],
                "identities": [{"principal": "spiffe://x/y", "scopes": ["fleet.report"]}],
            }
        ).encode()
    )
    assert contents.tokens[digest].principal == "p" and contents.limits["p"] == Limits(max_streams=2)
    assert contents.identities["spiffe://x/y"].scopes == {"fleet.report"}
    toml = f'[[tokens]]\nsha256 = "{digest}"\nprincipal = "p"\nscopes = ["ocr.stream"]\nrevoked = true\n'
    assert parse(toml.encode(), toml=True).tokens[digest].revoked


@pytest.mark.parametrize(
    "doc",
    [
        {"tokens": [{"sha256": "abc", "principal": "p", "scopes": []}]},  # not a sha256
        {"tokens": [{"sha256": "0" * 64, "principal": "p", "scopes": ["ocr.everything"]}]},
        {"tokens": [{"sha256": "0" * 64, "scopes": []}]},  # no principal
        {"tokens": [{"sha256": "0" * 64, "principal": "p", "scopes": [], "expires": "next week"}]},
        {"tokens": [{"sha256": "0" * 64, "principal": "p", "scopes": [], "limits": {"speed": 1}}]},
        {"users": []},
    ],
)
def test_bad_tokens_files_are_refused(doc):
    with pytest.raises(ConfigurationError) as info:
        parse(json.dumps(doc).encode())
    assert info.value.reason == "TOKENS_FILE_INVALID"


def test_tokens_file_follows_changes_and_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "tokens.json"
    entry = {"sha256": hash_token("a"), "principal": "a", "scopes": ["ocr.recognize"]}
    path.write_text(json.dumps({"tokens": [entry]}))
    tokens = TokenFile(path)
    assert tokens.token(hash_token("a")).principal == "a"
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"tokens": [dict(entry, sha256=hash_token("b"), principal="b")]}))
    os.replace(new, path)
    assert tokens.token(hash_token("a")) is None and tokens.token(hash_token("b")).principal == "b"
    path.write_text("{broken")
    assert tokens.token(hash_token("b")).principal == "b"
    with pytest.raises(ConfigurationError):
        TokenFile(tmp_path / "missing.json")


def test_token_bucket():
    bucket = TokenBucket(rate=2.0, capacity=3.0, stamp=0.0)
    assert [bucket.take(1, now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(1, now=0.0) == pytest.approx(0.5)  # refused: half a second until the next token
    assert bucket.take(1, now=0.5) == 0.0
    pixels = TokenBucket(rate=100.0, capacity=100.0, stamp=0.0)
    assert pixels.take(1000, now=0.0, overdraw=True) == 0.0  # bigger than the bucket: allowed once, in debt
    assert pixels.take(1, now=1.0, overdraw=True) == pytest.approx(8.0)  # 800 of debt left at 100/s
    assert TokenBucket(rate=0.0, capacity=0.0).take(10**9) == 0.0  # rate 0: no limit


def test_streams_per_principal():
    limiter = PrincipalLimiter(Limits(0, 1, 0, 1, 2))
    assert limiter.open_stream("a", Limits()) and limiter.open_stream("a", Limits())
    assert not limiter.open_stream("a", Limits()) and limiter.open_stream("b", Limits())
    limiter.close_stream("a")
    assert limiter.open_stream("a", Limits()) and not limiter.open_stream("a", Limits())
    assert limiter.open_stream("a", Limits(max_streams=3))  # a principal's own limit over the default


def test_listen_rule():
    assert all(map(is_loopback, ["127.0.0.1", "::1", "[::1]", "localhost", "127.3.2.1"]))
    assert not any(map(is_loopback, ["0.0.0.0", "[::]", "10.0.0.5", "example.com"]))
    assert ServerConfig().bind_host == "localhost"  # no credentials: this machine only
    assert ServerConfig(tokens_file="t.json").bind_host == "[::]"
    for host in ("0.0.0.0", "[::]", "192.168.1.10"):
        with pytest.raises(ConfigurationError) as info:
            ServerConfig(host=host).check_listen()
        assert info.value.reason == "INSECURE_LISTEN"
        ServerConfig(host=host, insecure=True).check_listen()
        ServerConfig(host=host, tokens_file="t.json").check_listen()
    ServerConfig(host="127.0.0.1").check_listen()


def test_server_refuses_an_open_network_address_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "server", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OCR_INSECURE": ""},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("[INSECURE_LISTEN]") and "--insecure" in lines[0]


@pytest.mark.parametrize(
    "changes",
    [
        dict(tls_cert="c.pem"),
        dict(tls_client_ca="ca.pem"),
        dict(redact="ssn"),
        dict(redact_patterns="(unclosed"),
        dict(cert_scopes="ocr.all"),
        dict(calls_per_s=-1),
    ],
)
def test_bad_security_settings(changes):
    with pytest.raises(ConfigurationError):
        ServerConfig(**changes)


def test_scope_table_is_open_for_new_services():
    assert scope_of("/ocr.v1.OcrService/StreamRecognize") == "ocr.stream"
    assert scope_of("/ocr.v1.OcrService/GetServerInfo", open_server_info=True) == OPEN
    assert scope_of("/fleet.v1.Fleet/Report") is None  # in no table: refused
    register_method_scopes({"/fleet.v1.Fleet/Report": "fleet.report"})
    try:
        assert scope_of("/fleet.v1.Fleet/Report") == "fleet.report"
    finally:
        METHOD_SCOPES.pop("/fleet.v1.Fleet/Report")
    with pytest.raises(ValueError):
        register_method_scopes({"/fleet.v1.Fleet/Wipe": "fleet.everything"})


def test_audit_file_is_private_and_rotates(tmp_path):
    path = tmp_path / "audit" / "audit.log"
    audit = AuditLog(str(path), max_bytes=2048, keep=2)
    for i in range(100):
        audit.write({"i": i, "pad": "x" * 100})
    audit.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["audit.log", "audit.log.1", "audit.log.2"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in path.parent.iterdir())
    last = [json.loads(line) for line in path.read_text().splitlines()]
    assert last[-1]["i"] == 99 and all(os.path.getsize(p) <= 2048 + 200 for p in path.parent.iterdir())


def test_issue_token_command():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.security",
            "token",
            "--principal",
            "cam-01",
            "--scope",
            "ocr.stream",
            "--expires",
            "2099-01-01T00:00:00Z",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    token, entry = result.stdout.splitlines()
    contents = parse(json.dumps({"tokens": [json.loads(entry)]}).encode())
    assert contents.tokens[hash_token(token)].scopes == {"ocr.stream"}


def test_stream_events_and_their_candidate_readings_are_redacted():
    """A track's candidate readings carry the same text as the event: both leave the box masked."""
    from clients.ocr_client.pb import ocr_pb2
    from server.security.redaction import RedactInterceptor

    response = ocr_pb2.StreamRecognizeResponse()
    event = response.events.add(text="mail bob@example.com")
    event.candidates.add(text="mail bob@example.com", score=0.7)
    event.candidates.add(text="mail bob@exarnple.com", score=0.3)
    RedactInterceptor(Redactor(["email"])).redact(response)
    assert "@" not in response.events[0].text
    assert all("@" not in c.text for c in response.events[0].candidates)
