"""Dockerfile.edge, checked statically (no docker engine here): what it runs exists and is set-up's own, the
final stage is unprivileged and free of dev dependencies, one build argument picks the GPU flavour, and the
image's own environment is one the server accepts only with credentials."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex

import pytest

from edge_runtime.config import from_env
from edge_runtime.errors import ConfigurationError
from server.config import ServerConfig
from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile.edge").read_text(encoding="utf-8")
SETUP = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
# Steps of the image that are the operating system's, not the project's: no test runs them here.
OS_COMMANDS = ("apt-get update", "apt-get install", "rm -rf /var/lib/apt/lists/*", "groupadd", "useradd")
# Only the GPU flavour runs these (FLAVOUR=gpu); no test here has a GPU image to build.
GPU_ONLY = (
    ".venv/bin/python -m pip uninstall -q -y onnxruntime",
    '.venv/bin/python -m pip install -q "$ONNXRUNTIME_GPU"',
    ".venv/bin/python -c \"exit('CUDAExecutionProvider' not in __import__('onnxruntime').get_available_providers())\"",
)


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")]
    text = "\n".join(lines).replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


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


def _segments(run: str) -> list[str]:
    """The commands of one RUN line (split at && and ;, shell control words dropped)."""
    parts = re.split(r"\s*(?:&&|;)\s*", run)
    out = []
    for part in parts:
        part = re.sub(r"^(?:if|then|elif|else)\s+", "", part.strip())
        part = re.sub(r"^(?:if|then|elif|else)\s+", "", part)
        if part and part not in ("fi",) and not part.startswith(("[ ", "echo ", "exit ")):
            out.append(part)
    return out


def test_every_build_step_runs_a_command_setup_sh_runs() -> None:
    """scripts/setup.sh runs before every test run (scripts/test.sh), so a step that is one of its commands has
    been run by the tests; the only others are the operating system's and the GPU flavour's."""
    setup = SETUP.replace('"$VPY"', ".venv/bin/python").replace('"$PY"', "python3")
    setup_lines = {" ".join(line.split()) for line in setup.splitlines()}
    runs = [rest for stage in _stages() for word, rest in stage if word == "RUN"]
    assert runs
    unexplained = []
    for run in runs:
        for command in _segments(run):
            if command.startswith(OS_COMMANDS) or command in GPU_ONLY or command in setup_lines:
                continue
            if command == ".venv/bin/python -m pip install -q -r requirements.txt":
                # setup.sh installs requirements-dev.txt, which is requirements.txt plus the dev pins
                assert "-r requirements-dev.txt" in setup
                assert (REPO / "requirements-dev.txt").read_text().count("-r requirements.txt") == 1
                continue
            unexplained.append(command)
    assert not unexplained, f"Dockerfile.edge steps no test runs: {unexplained}"


def test_final_stage_is_unprivileged_and_free_of_dev_dependencies() -> None:
    build, final = _stages()[0], _stages()[-1]
    assert len(_stages()) == 2 and build[0][1].endswith("AS build") and final[0][1].endswith("AS runtime")
    users = [rest for word, rest in final if word == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), "the server must not run as root"
    assert not any(word == "RUN" and "pip" in rest for word, rest in final), "no installs in the final stage"
    assert ("COPY", "--from=build /opt/edge-ocr/app /opt/edge-ocr/app") in final
    assert "requirements-dev" not in DOCKERFILE.replace("requirements-dev.txt,", "")
    runtime = (REPO / "requirements.txt").read_text()
    for dev in ("pytest", "rapidocr"):
        assert not re.search(rf"^{dev}\b", runtime, re.M), f"{dev} is a dev dependency"
    for line in runtime.splitlines():  # exact pins only
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[\w.]+", line.strip()), line


def test_one_build_argument_selects_the_gpu_flavour() -> None:
    build = _stages()[0]
    args = {rest.partition("=")[0]: rest.partition("=")[2] for word, rest in build if word == "ARG"}
    assert args["FLAVOUR"] == "cpu"
    assert re.fullmatch(r"onnxruntime-gpu(\[[a-z,]+\])?==\d+\.\d+\.\d+", args["ONNXRUNTIME_GPU"])
    assert "OCR_DEVICE" not in _env(_stages()[-1]), "the device is chosen at run time, not baked in"


def test_the_image_listens_on_all_addresses_only_with_credentials() -> None:
    env = _env(_stages()[-1])
    assert env["OCR_HOST"] == "[::]"
    with pytest.raises(ConfigurationError) as refused:
        from_env(ServerConfig, environ=env).check_listen()
    assert refused.value.reason == "INSECURE_LISTEN"
    for extra in ({"OCR_TOKENS_FILE": "/etc/edge-ocr/tokens/tokens.json"}, {"OCR_INSECURE": "1"}):
        from_env(ServerConfig, environ={**env, **extra}).check_listen()
    for documented in ("OCR_TOKENS_FILE", "OCR_TLS_CLIENT_CA", "OCR_INSECURE=1"):
        assert documented in DOCKERFILE


def test_ports_and_health_check() -> None:
    env = _env(_stages()[-1])
    config = from_env(ServerConfig, environ={**env, "OCR_INSECURE": "1"})
    exposed = {int(p) for word, rest in _stages()[-1] if word == "EXPOSE" for p in rest.split()}
    assert exposed == {config.port, config.http_port, config.metrics_port, config.health_port}
    assert config.http_port and config.metrics_port and config.health_port
    assert config.cache and config.log_format == "json"
    # the HEALTHCHECK asks the plain-text health port, so it works with TLS on the service port
    assert re.search(
        r"^HEALTHCHECK .*\n\s+CMD \[\".venv/bin/python\", \"-m\", \"server.healthcheck\"\]", DOCKERFILE, re.M
    )


def test_build_context_keeps_what_the_server_imports() -> None:
    """The server imports its generated gRPC code from the client library (clients/ocr_client/gen, made from
    proto/ by set-up), so neither may be left out of the build context."""
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for kept in ("proto", "clients", "clients/ocr_client", "server", "models", "quantize", "edge_runtime"):
        assert kept not in ignored and f"{kept}/" not in ignored, f".dockerignore drops {kept}"
    for dropped in (".venv", "models/cache", ".git"):
        assert dropped in ignored, f"the build must not see the host's {dropped}"
