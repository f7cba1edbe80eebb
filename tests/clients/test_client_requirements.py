"""The client library's own requirements file names every third-party package it imports, pinned as the
project pins it, so a copy of clients/ alone can be installed from it."""

from __future__ import annotations

import sys

from tests.conftest import REPO
from tests.import_scan import imports_of, module_files

CLIENT_REQUIREMENTS = REPO / "clients" / "ocr_client" / "requirements.txt"
# import name -> distribution name, for the imports whose names differ
DISTRIBUTIONS = {
    "grpc": "grpcio",
    "grpc_health": "grpcio-health-checking",
    "grpc_tools": "grpcio-tools",
    "google": "protobuf",
}


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[name.split("[")[0].strip().lower()] = version.strip()
    return pins


def test_every_third_party_import_of_the_client_is_pinned() -> None:
    known = set(module_files())
    imported = {
        imp.module.split(".")[0]
        for module, path in module_files(("clients",)).items()
        for imp in imports_of(path, module, known)
    }
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "clients"}
    wanted = {DISTRIBUTIONS.get(name, name) for name in third_party}
    wanted.add("googleapis-common-protos")  # gen/ (not scanned) imports google.api for the HTTP annotations
    assert wanted == set(_pins(CLIENT_REQUIREMENTS))


def test_the_client_pins_are_the_projects() -> None:
    project = _pins(REPO / "requirements.txt")
    for name, version in _pins(CLIENT_REQUIREMENTS).items():
        assert project.get(name) == version, name
