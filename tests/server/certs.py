"""Test PKI made with the `openssl` command (the same commands README gives): a CA, a server certificate for
127.0.0.1/localhost, a client certificate with a SPIFFE URI SAN, and a second CA with its own client."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SPIFFE_ID = "spiffe://edge.example/device/cam-01"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path  # SPIFFE_ID in its URI SAN, CN cam-01
    client_key: Path
    cn_client_cert: Path  # CN only: "kiosk-07"
    cn_client_key: Path
    other_ca: Path
    other_client_cert: Path  # signed by other_ca: must be refused
    other_client_key: Path


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(name: str, cn: str, cwd: Path) -> None:
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", f"/CN={cn}", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=cwd)


def _leaf(name: str, cn: str, ext: str, ca: str, cwd: Path) -> None:
    _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={cn}",
         "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(ext)
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
         "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=cwd)


def make_pki(directory: Path) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    _ca("ca", "edge-ocr test CA", directory)
    _leaf("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", "ca",
          directory)
    _leaf("client", "cam-01", f"subjectAltName=URI:{SPIFFE_ID}\nextendedKeyUsage=clientAuth\n", "ca", directory)
    _leaf("kiosk", "kiosk-07", "extendedKeyUsage=clientAuth\n", "ca", directory)
    _ca("other", "some other CA", directory)
    _leaf("intruder", "cam-01", f"subjectAltName=URI:{SPIFFE_ID}\nextendedKeyUsage=clientAuth\n", "other",
          directory)
    d = directory
    return Pki(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key",
               d / "kiosk.crt", d / "kiosk.key", d / "other.crt", d / "intruder.crt", d / "intruder.key")
