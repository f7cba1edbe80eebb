"""Dockerfile.edge, checked statically (no docker engine here): what it runs exists and is set-up's own."""

from __future__ import annotations

import importlib.util
import json
import re

from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile.edge").read_text(encoding="utf-8")


def _exec_forms() -> list[list[str]]:
    """Every JSON-array command (CMD, HEALTHCHECK ... CMD, ENTRYPOINT), continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    return [json.loads(m) for m in re.findall(r"\bCMD\s+(\[.*?\])", text)]


def test_every_module_the_image_runs_exists() -> None:
    commands = _exec_forms()
    assert len(commands) >= 2  # the server and its health check
    modules = [cmd[cmd.index("-m") + 1] for cmd in commands if "-m" in cmd]
    assert "server" in modules and "server.healthcheck" in modules
    for module in modules:
        assert importlib.util.find_spec(module) is not None, f"Dockerfile.edge runs a missing module: {module}"


def test_image_is_built_by_the_readme_set_up_script() -> None:
    assert re.search(r"^RUN bash scripts/setup\.sh$", DOCKERFILE, re.M)
    assert re.search(r"^EXPOSE 50051$", DOCKERFILE, re.M)
    assert re.search(r"^USER \d+", DOCKERFILE, re.M), "the server must not run as root"


def test_build_context_keeps_what_the_server_imports() -> None:
    """The server imports its generated gRPC code from the client library (clients/ocr_client/gen, made from
    proto/ by set-up), so neither may be left out of the build context."""
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for kept in ("proto", "clients", "clients/ocr_client", "server"):
        assert kept not in ignored and f"{kept}/" not in ignored, f".dockerignore drops {kept}"
