"""A throw-away PKI for development and tests, made with the `openssl` command (the commands README shows): a CA,
a server certificate for localhost/127.0.0.1, a client certificate with a SPIFFE URI SAN, a CN-only client, and a
second CA with a client of its own (which the first CA's server must refuse). Not for production keys."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DevPki", "make_dev_pki", "SPIFFE_ID"]

SPIFFE_ID = "spiffe://edge.example/device/cam-01"


@dataclass(frozen=True)
class DevPki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path  # SPIFFE_ID in its URI SAN, CN cam-01
    client_key: Path
    cn_client_cert: Path  # CN only: "kiosk-07"
    cn_client_key: Path
    other_ca: Path
    other_client_cert: Path  # signed by other_ca
    other_client_key: Path


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(name: str, cn: str, cwd: Path, days: int) -> None:
    _run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        str(days),
        "-subj",
        f"/CN={cn}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.crt",
        cwd=cwd,
    )


def _leaf(name: str, cn: str, ext: str, ca: str, cwd: Path, days: int) -> None:
    _run(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        f"/CN={cn}",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        cwd=cwd,
    )
    (cwd / f"{name}.ext").write_text(ext)
    _run(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.crt",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        str(days),
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
        cwd=cwd,
    )


def make_dev_pki(directory: Path, days: int = 2) -> DevPki:
    """Write the PKI's files into ``directory`` (created); raises FileNotFoundError without `openssl`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _ca("ca", "edge-ocr test CA", directory, days)
    _leaf(
        "server",
        "localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        "ca",
        directory,
        days,
    )
    _leaf("client", "cam-01", f"subjectAltName=URI:{SPIFFE_ID}\nextendedKeyUsage=clientAuth\n", "ca", directory, days)
    _leaf("kiosk", "kiosk-07", "extendedKeyUsage=clientAuth\n", "ca", directory, days)
    _ca("other", "some other CA", directory, days)
    _leaf(
        "intruder", "cam-01", f"subjectAltName=URI:{SPIFFE_ID}\nextendedKeyUsage=clientAuth\n", "other", directory, days
    )
    d = directory
    return DevPki(
        d / "ca.crt",
        d / "server.crt",
        d / "server.key",
        d / "client.crt",
        d / "client.key",
        d / "kiosk.crt",
        d / "kiosk.key",
        d / "other.crt",
        d / "intruder.crt",
        d / "intruder.key",
    )
