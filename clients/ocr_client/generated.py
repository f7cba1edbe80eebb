"""Where the generated fleet.v1/ocr.v1 code lives and whether it is current: checked on import, never made.

The code is generated at set-up (``python -m clients.ocr_client.codegen``, run by scripts/setup.sh) into gen/
(git-ignored) with a stamp of the proto sources and the grpcio-tools version. Importing the client only reads
that stamp: a missing or stale gen/ raises ``GeneratedCodeError``, an ImportError whose one-line message names
the command to run. An installed copy without ``proto/`` (or without grpcio-tools to compare with) trusts the
generated code it ships with.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = [
    "GeneratedCodeError",
    "require_current",
    "is_current",
    "fingerprint",
    "GEN_DIR",
    "PROTO_DIR",
    "STAMP",
    "COMMAND",
]

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
GEN_DIR = Path(__file__).resolve().parent / "gen"
STAMP = ".stamp"
COMMAND = "python -m clients.ocr_client.codegen"
MODULES = (
    "ocr/v1/ocr_service_pb2.py",
    "ocr/v1/ocr_service_pb2_grpc.py",
    "fleet/v1/fleet_service_pb2.py",
    "fleet/v1/fleet_service_pb2_grpc.py",
)


class GeneratedCodeError(ImportError):
    """The generated gRPC code is missing or was made from other proto sources or another grpcio-tools;
    ``reason`` is GENERATED_CODE_MISSING or GENERATED_CODE_STALE (the command lines print it)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def sources() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def _tools_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("grpcio-tools")
    except PackageNotFoundError:
        return None


def fingerprint() -> str | None:
    """The stamp gen/ must carry to be current; None where there is nothing to compare with (no proto/ or no
    grpcio-tools)."""
    tools = _tools_version()
    if tools is None or not PROTO_DIR.is_dir():
        return None
    digest = hashlib.sha256(tools.encode())
    for path in sources():
        digest.update(str(path.relative_to(PROTO_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _stamp() -> str | None:
    try:
        return (GEN_DIR / STAMP).read_text().strip()
    except OSError:
        return None


def is_current() -> bool:
    """True when gen/ holds every module and was made from the proto sources and grpcio-tools present now."""
    expected = fingerprint()
    return all((GEN_DIR / m).is_file() for m in MODULES) and expected is not None and _stamp() == expected


def require_current() -> None:
    """Raise GeneratedCodeError (one line, naming the command to run) unless gen/ may be imported."""
    missing = [m for m in MODULES if not (GEN_DIR / m).is_file()]
    if missing:
        raise GeneratedCodeError(
            f"the generated gRPC code is missing ({GEN_DIR / missing[0]}); run: {COMMAND}", "GENERATED_CODE_MISSING"
        )
    expected = fingerprint()
    if expected is not None and _stamp() != expected:
        raise GeneratedCodeError(
            f"the generated gRPC code in {GEN_DIR} is stale (made from other proto/ sources "
            f"or another grpcio-tools); run: {COMMAND}",
            "GENERATED_CODE_STALE",
        )
