"""Who may import whom. The client library stands alone: it imports nothing of server/, edge_runtime/, fleet/,
models/, quantize/ or bench/, not even lazily (read from the source), and a copy of clients/ alone, with its
generated code, imports and recognizes against a real server while every other package of the project is
unimportable. models/ is the ground floor; edge_runtime/ never imports server/ or grpc, and reaches a server only
through the client library: at top level only its protobuf messages, the rest lazily."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clients.render import page_png
from tests.conftest import REPO, get_engine
from tests.import_scan import PACKAGES, imports_of, module_files

OTHERS = ("server", "edge_runtime", "fleet", "models", "quantize", "bench")


def _imports(package: str) -> list[tuple[str, str, int, bool]]:
    """(module, imported top-level package, line, top level?) for every import of ``package``'s modules."""
    files = module_files((package,))
    known = set(module_files())
    return [
        (module, imp.module.split(".")[0], imp.line, imp.top_level)
        for module, path in files.items()
        for imp in imports_of(path, module, known)
    ]


@pytest.mark.parametrize("other", OTHERS)
def test_the_client_library_imports_nothing_of(other: str) -> None:
    found = [f"{module}:{line}" for module, top, line, _ in _imports("clients") if top == other]
    assert found == [], f"the client library imports {other}/"


def test_the_scan_sees_imports_inside_functions() -> None:
    lazy = {(module, top) for module, top, _, top_level in _imports("clients") if not top_level}
    assert ("clients.ocr_client.cli", "clients") in lazy  # cli imports the client inside main


_BLOCKED_RUN = r"""
import importlib, json, pkgutil, sys

BLOCKED = set(sys.argv[1].split(","))


class Blocked:
    '''Refuses the project's other packages, wherever they could be found (the editable install included).'''

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the client library imported {name}")
        return None


sys.meta_path.insert(0, Blocked())
import clients.ocr_client as package

names = sorted(m.name for m in pkgutil.walk_packages(package.__path__, "clients.ocr_client.")
               if not m.name.endswith("__main__"))
for name in names:
    importlib.import_module(name)
from clients.ocr_client import OcrClient

with OcrClient(sys.argv[2], timeout=120) as client:
    text = client.recognize(sys.argv[3]).text
print(json.dumps({"file": package.__file__, "modules": names, "text": text}))
"""


def test_a_copy_of_clients_alone_imports_and_recognizes(served, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    shutil.copytree(REPO / "clients", alone / "clients", ignore=shutil.ignore_patterns("node", "__pycache__"))
    assert (alone / "clients" / "ocr_client" / "gen").is_dir(), "run python -m clients.ocr_client.codegen"
    image = tmp_path / "page.png"
    image.write_bytes(page_png())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKED_RUN, ",".join((*OTHERS, "tests")), served.target, str(image)],
        cwd=alone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert Path(seen["file"]).is_relative_to(alone)  # the copy, not the repository
    assert {
        "clients.ocr_client.client",
        "clients.ocr_client.fleet",
        "clients.ocr_client.fleet_convert",
        "clients.ocr_client.cli",
        "clients.ocr_client.pb",
        "clients.ocr_client.messages",
    } <= set(seen["modules"])
    assert seen["text"] == get_engine().recognize(page_png()).text


def test_models_import_nothing_above_them() -> None:
    above = set(PACKAGES) - {"models"} | {"grpc"}
    found = [f"{module}:{line} {top}" for module, top, line, _ in _imports("models") if top in above]
    assert found == []


def test_edge_runtime_never_imports_server_or_grpc_and_of_clients_only_messages_at_top_level() -> None:
    imports = _imports("edge_runtime")
    assert [f"{m}:{line}" for m, top, line, _ in imports if top in ("server", "grpc")] == []
    files = module_files(("edge_runtime",))
    known = set(module_files())
    top_level = {
        imp.module
        for module, path in files.items()
        for imp in imports_of(path, module, known)
        if imp.top_level and imp.module.split(".")[0] == "clients"
    }
    assert top_level <= {"clients.ocr_client.messages"}
